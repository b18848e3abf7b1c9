"""The mesh resource kinds users apply: Gateway API HTTPRoute plus glassmesh.io policies.

Every kind has a Kubernetes envelope (apiVersion, kind, metadata, spec). Structs are frozen and
forbid unknown fields; ``decode_resource`` raises ``ResourceError`` whose ``path`` names the field
at fault (``spec.rules[0].backendRefs[1].weight``). Checks that need other resources (a backendRef
subset must be defined by a TrafficPolicy) are in ``check_subsets``, called by whoever stores them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Final, Literal

import msgspec

GATEWAY_V1: Final = "gateway.networking.k8s.io/v1"
GLASSMESH_V1ALPHA1: Final = "glassmesh.io/v1alpha1"
ROOT_NAMESPACE = "glassmesh-system"  # a selector-less PeerAuthentication here is mesh-wide
MAX_REGEX_BYTES = 1024
# Gateway API durations (GEP-2257): up to four <number><unit> parts, e.g. 10s, 500ms, 1h30m.
DURATION_PATTERN = r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"
_DURATION_PART = re.compile(r"([0-9]{1,5})(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}

Duration = Annotated[str, msgspec.Meta(pattern=DURATION_PATTERN, examples=["10s", "500ms"])]
Name = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")]
Namespace = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
HeaderName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,256}$")]
Hostname = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    ),
]
HeaderValue = Annotated[str, msgspec.Meta(pattern=r"^[^\r\n\x00]{0,4096}$")]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
Count = Annotated[int, msgspec.Meta(ge=0)]
Labels = dict[str, str]
Method = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]


class ResourceError(ValueError):
    """A resource is invalid: ``path`` is the JSON path of the field at fault ("" for the root)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class _Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every user-written struct."""


def parse_duration(text: str) -> float:
    """Seconds in a Gateway API duration such as ``1h30m`` or ``500ms``; raises ValueError."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"{text!r} is not a duration like 10s, 500ms or 1h30m")
    return sum(int(n) * _UNIT_S[unit] for n, unit in _DURATION_PART.findall(text))


def _regex_tokens(pattern: str) -> Iterator[str]:
    """Yields "(", ")", "Q" (a repeat: *, + or {m,n}) and "x" (anything else) of a pattern."""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 1
        elif ch == "[":  # a character class: skip to its closing bracket
            close = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("]", "^") else i + 1)
            i = len(pattern) if close < 0 else close
        elif ch == "{" and (m := re.match(r"\{(\d+,?\d*|,\d+)\}", pattern[i:])):
            i += len(m[0]) - 1
            ch = "Q"
        yield {"(": "(", ")": ")", "*": "Q", "+": "Q", "Q": "Q"}.get(ch, "x")
        i += 1


def _has_nested_quantifier(pattern: str) -> bool:
    """Whether a repeated group itself repeats, like ``(a+)+``: a catastrophic-backtracking risk."""
    repeats = [False]  # per open group: does it contain a repeat?
    closed_repeating = False  # the previous token closed a group that contains a repeat
    for token in _regex_tokens(pattern):
        if token == "Q" and closed_repeating:
            return True
        closed_repeating = False
        if token == "(":
            repeats.append(False)
        elif token == ")" and len(repeats) > 1:
            closed_repeating = repeats.pop()
            repeats[-1] = repeats[-1] or closed_repeating
        elif token == "Q":
            repeats[-1] = True
    return False


def check_regex(pattern: str) -> None:
    """Raises ValueError unless ``pattern`` compiles, is short and has no nested repeats."""
    if len(pattern.encode()) > MAX_REGEX_BYTES:
        raise ValueError(f"regular expression is longer than {MAX_REGEX_BYTES} bytes")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    if _has_nested_quantifier(pattern):
        raise ValueError("nested quantifier (like (a+)+) risks catastrophic backtracking")


def _exactly_one(struct: msgspec.Struct, fields: tuple[str, ...]) -> None:
    """Raises ValueError, naming the first field, unless exactly one of ``fields`` is set."""
    if sum(getattr(struct, f) is not None for f in fields) != 1:
        raise ValueError(f"{fields[0]}: set exactly one of {', '.join(fields)}")


class Metadata(_Config, frozen=True):
    """Kubernetes object metadata; resourceVersion and creationTimestamp are set by the server."""

    name: Name
    namespace: Namespace = "default"
    labels: Labels = {}
    annotations: Labels = {}
    resourceVersion: str | None = None
    creationTimestamp: str | None = None


class Resource(_Config, frozen=True):
    """Base of every kind: the Kubernetes envelope."""

    apiVersion: str
    kind: str
    metadata: Metadata

    def key(self) -> tuple[str, str, str]:
        """Returns (kind, namespace, name), which identifies a stored resource."""
        return (self.kind, self.metadata.namespace, self.metadata.name)


class Selector(_Config, frozen=True):
    """Selects workloads by their labels; no selector means every workload of the namespace."""

    matchLabels: Labels = {}


# --- HTTPRoute (Gateway API v1, GAMMA: the parent is a Service) ---------------------------------


class ParentRef(_Config, frozen=True):
    """The Service whose traffic the route governs (GAMMA)."""

    name: Name
    group: Literal[""] = ""
    kind: Literal["Service"] = "Service"
    namespace: Namespace | None = None
    port: Port | None = None


class PathMatch(_Config, frozen=True):
    """Matches the request path."""

    type: Literal["Exact", "PathPrefix", "RegularExpression"] = "PathPrefix"
    value: str = "/"

    def __post_init__(self) -> None:
        if self.type == "RegularExpression":
            _check_regex_field(self.value)
        elif not self.value.startswith("/"):
            raise ValueError("value: a path must start with /")


class ValueMatch(_Config, frozen=True):
    """Matches one header or query parameter by its name."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    value: str
    type: Literal["Exact", "RegularExpression"] = "Exact"

    def __post_init__(self) -> None:
        if self.type == "RegularExpression":
            _check_regex_field(self.value)


def _check_regex_field(value: str) -> None:
    try:
        check_regex(value)
    except ValueError as exc:
        raise ValueError(f"value: {exc}") from None


class RouteMatch(_Config, frozen=True):
    """A request matches when every condition given here holds."""

    path: PathMatch = PathMatch()
    headers: list[ValueMatch] = []
    queryParams: list[ValueMatch] = []
    method: Method | None = None


class HeaderSet(_Config, frozen=True):
    name: HeaderName
    value: HeaderValue


class HeaderModifier(_Config, frozen=True):
    """Sets, adds or removes request or response headers."""

    set: list[HeaderSet] = []
    add: list[HeaderSet] = []
    remove: list[HeaderName] = []


class PathModifier(_Config, frozen=True):
    type: Literal["ReplaceFullPath", "ReplacePrefixMatch"]
    replaceFullPath: str | None = None
    replacePrefixMatch: str | None = None

    def __post_init__(self) -> None:
        wanted = "replaceFullPath" if self.type == "ReplaceFullPath" else "replacePrefixMatch"
        if getattr(self, wanted) is None:
            raise ValueError(f"{wanted}: required when type is {self.type}")


class URLRewrite(_Config, frozen=True):
    hostname: Hostname | None = None
    path: PathModifier | None = None


class ObjectRef(_Config, frozen=True):
    """A Service and port traffic goes to."""

    name: Name
    port: Port
    group: Literal[""] = ""
    kind: Literal["Service"] = "Service"
    namespace: Namespace | None = None


class BackendRef(ObjectRef, frozen=True):
    """A weighted backend; ``subset`` (a glassmesh extension) names a TrafficPolicy subset."""

    weight: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 1
    subset: Name | None = None


class RequestMirror(_Config, frozen=True):
    backendRef: ObjectRef
    percent: Percent | None = None


class ExtensionRef(_Config, frozen=True):
    """Points at a glassmesh.io Fault in the route's namespace."""

    group: Literal["glassmesh.io"]
    kind: Literal["Fault"]
    name: Name


_FILTER_FIELDS = {
    "RequestHeaderModifier": "requestHeaderModifier",
    "ResponseHeaderModifier": "responseHeaderModifier",
    "URLRewrite": "urlRewrite",
    "RequestMirror": "requestMirror",
    "ExtensionRef": "extensionRef",
}


class RouteFilter(_Config, frozen=True):
    """One filter; the field named after ``type`` carries its settings."""

    type: Literal[
        "RequestHeaderModifier", "ResponseHeaderModifier", "URLRewrite", "RequestMirror",
        "ExtensionRef",
    ]  # fmt: skip
    requestHeaderModifier: HeaderModifier | None = None
    responseHeaderModifier: HeaderModifier | None = None
    urlRewrite: URLRewrite | None = None
    requestMirror: RequestMirror | None = None
    extensionRef: ExtensionRef | None = None

    def __post_init__(self) -> None:
        wanted = _FILTER_FIELDS[self.type]
        for field in _FILTER_FIELDS.values():
            if (getattr(self, field) is None) == (field == wanted):
                verb = "required" if field == wanted else "not allowed"
                raise ValueError(f"{field}: {verb} when type is {self.type}")


class Timeouts(_Config, frozen=True):
    request: Duration | None = None
    backendRequest: Duration | None = None


class Retry(_Config, frozen=True):
    """GEP-1731 retries: which status codes, how many attempts, the backoff between them."""

    attempts: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    backoff: Duration | None = None
    codes: list[Annotated[int, msgspec.Meta(ge=400, le=599)]] = []


class RouteRule(_Config, frozen=True):
    name: Name | None = None
    matches: list[RouteMatch] = []
    filters: list[RouteFilter] = []
    backendRefs: list[BackendRef] = []
    timeouts: Timeouts | None = None
    retry: Retry | None = None


class HTTPRouteSpec(_Config, frozen=True):
    parentRefs: list[ParentRef] = []
    hostnames: list[Hostname] = []
    rules: list[RouteRule] = []


class HTTPRoute(Resource, frozen=True, kw_only=True):
    """Routing for requests to a Service (Gateway API HTTPRoute, GAMMA)."""

    apiVersion: Literal["gateway.networking.k8s.io/v1"] = GATEWAY_V1
    kind: Literal["HTTPRoute"] = "HTTPRoute"
    spec: HTTPRouteSpec


# --- TrafficPolicy (Istio DestinationRule-like) --------------------------------------------------


class CookieHash(_Config, frozen=True):
    name: str
    path: str | None = None
    ttl: Duration | None = None


class ConsistentHash(_Config, frozen=True):
    httpHeaderName: HeaderName | None = None
    httpCookie: CookieHash | None = None

    def __post_init__(self) -> None:
        _exactly_one(self, ("httpHeaderName", "httpCookie"))


class LoadBalancer(_Config, frozen=True):
    simple: Literal["ROUND_ROBIN", "LEAST_REQUEST", "RANDOM"] | None = None
    consistentHash: ConsistentHash | None = None

    def __post_init__(self) -> None:
        _exactly_one(self, ("simple", "consistentHash"))


class HttpPool(_Config, frozen=True):
    maxRequestsPerConnection: Count | None = None
    http1MaxPendingRequests: Count | None = None


class TcpPool(_Config, frozen=True):
    maxConnections: Count | None = None
    connectTimeout: Duration | None = None


class ConnectionPool(_Config, frozen=True):
    http: HttpPool | None = None
    tcp: TcpPool | None = None


class OutlierDetection(_Config, frozen=True):
    consecutive5xxErrors: Count | None = None
    consecutiveGatewayErrors: Count | None = None
    interval: Duration | None = None
    baseEjectionTime: Duration | None = None
    maxEjectionPercent: Percent | None = None


class TrafficSettings(_Config, frozen=True):
    loadBalancer: LoadBalancer | None = None
    connectionPool: ConnectionPool | None = None
    outlierDetection: OutlierDetection | None = None


class Subset(_Config, frozen=True):
    """The endpoints of a host whose labels match, addressable by name from a backendRef."""

    name: Name
    labels: Labels = {}
    trafficPolicy: TrafficSettings | None = None


class TrafficPolicySpec(_Config, frozen=True):
    host: Annotated[str, msgspec.Meta(min_length=1, max_length=253)]
    trafficPolicy: TrafficSettings | None = None
    subsets: list[Subset] = []

    def __post_init__(self) -> None:
        names = [s.name for s in self.subsets]
        if len(set(names)) != len(names):
            raise ValueError("subsets: subset names must be unique")


class TrafficPolicy(Resource, frozen=True, kw_only=True):
    """How traffic to one host is balanced, pooled and ejected, and its named subsets."""

    apiVersion: Literal["glassmesh.io/v1alpha1"] = GLASSMESH_V1ALPHA1
    kind: Literal["TrafficPolicy"] = "TrafficPolicy"
    spec: TrafficPolicySpec


# --- AuthorizationPolicy, PeerAuthentication, Telemetry, Fault (Istio-like shapes) --------------


class Source(_Config, frozen=True):
    principals: list[str] = []
    notPrincipals: list[str] = []
    namespaces: list[str] = []
    notNamespaces: list[str] = []


class From(_Config, frozen=True):
    source: Source


class Operation(_Config, frozen=True):
    methods: list[str] = []
    paths: list[str] = []
    notPaths: list[str] = []
    hosts: list[str] = []


class To(_Config, frozen=True):
    operation: Operation


class Condition(_Config, frozen=True):
    key: Annotated[str, msgspec.Meta(min_length=1)]
    values: list[str] = []
    notValues: list[str] = []


class AuthorizationRule(_Config, frozen=True):
    from_: list[From] = msgspec.field(default_factory=list, name="from")
    to: list[To] = []
    when: list[Condition] = []


class AuthorizationPolicySpec(_Config, frozen=True):
    selector: Selector | None = None
    action: Literal["ALLOW", "DENY"] = "ALLOW"
    rules: list[AuthorizationRule] = []


class AuthorizationPolicy(Resource, frozen=True, kw_only=True):
    """Allows or denies requests to selected workloads by source identity and operation."""

    apiVersion: Literal["glassmesh.io/v1alpha1"] = GLASSMESH_V1ALPHA1
    kind: Literal["AuthorizationPolicy"] = "AuthorizationPolicy"
    spec: AuthorizationPolicySpec


class MutualTLS(_Config, frozen=True):
    mode: Literal["STRICT", "PERMISSIVE", "DISABLE"]


class PeerAuthenticationSpec(_Config, frozen=True):
    selector: Selector | None = None
    mtls: MutualTLS | None = None


class PeerAuthentication(Resource, frozen=True, kw_only=True):
    """Whether selected workloads accept plaintext; mesh-wide in ROOT_NAMESPACE without selector."""

    apiVersion: Literal["glassmesh.io/v1alpha1"] = GLASSMESH_V1ALPHA1
    kind: Literal["PeerAuthentication"] = "PeerAuthentication"
    spec: PeerAuthenticationSpec

    def is_mesh_wide(self) -> bool:
        """Returns whether this policy applies to every namespace."""
        return self.metadata.namespace == ROOT_NAMESPACE and self.spec.selector is None


class Tracing(_Config, frozen=True):
    randomSamplingPercentage: Percent | None = None


class AccessLogFilter(_Config, frozen=True):
    expression: str


class AccessLogging(_Config, frozen=True):
    disabled: bool = False
    filter: AccessLogFilter | None = None


class TelemetrySpec(_Config, frozen=True):
    selector: Selector | None = None
    tracing: list[Tracing] = []
    accessLogging: list[AccessLogging] = []


class Telemetry(Resource, frozen=True, kw_only=True):
    """Trace sampling and access logging for selected workloads."""

    apiVersion: Literal["glassmesh.io/v1alpha1"] = GLASSMESH_V1ALPHA1
    kind: Literal["Telemetry"] = "Telemetry"
    spec: TelemetrySpec


class FaultDelay(_Config, frozen=True):
    fixedDelay: Duration
    percentage: Percent = 100.0


class FaultAbort(_Config, frozen=True):
    httpStatus: Annotated[int, msgspec.Meta(ge=200, le=599)]
    percentage: Percent = 100.0


class FaultSpec(_Config, frozen=True):
    delay: FaultDelay | None = None
    abort: FaultAbort | None = None

    def __post_init__(self) -> None:
        if self.delay is None and self.abort is None:
            raise ValueError("delay: set delay, abort or both")


class Fault(Resource, frozen=True, kw_only=True):
    """Injected delays and aborts, referenced from an HTTPRoute filter (ExtensionRef)."""

    apiVersion: Literal["glassmesh.io/v1alpha1"] = GLASSMESH_V1ALPHA1
    kind: Literal["Fault"] = "Fault"
    spec: FaultSpec


# --- decoding ------------------------------------------------------------------------------------

KINDS: dict[str, type[Resource]] = {
    cls.__name__: cls
    for cls in (HTTPRoute, TrafficPolicy, AuthorizationPolicy, PeerAuthentication, Telemetry, Fault)
}
_API_VERSIONS = {kind: GATEWAY_V1 if kind == "HTTPRoute" else GLASSMESH_V1ALPHA1 for kind in KINDS}
_AT = re.compile(r"(.*) - at `\$\.?(.*)`\Z", re.DOTALL)
_NAMED_FIELD = re.compile(r"Object (?:contains unknown|missing required) field `([^`]+)`")
_OWN_FIELD = re.compile(r"([A-Za-z0-9_]+): (.*)", re.DOTALL)  # "field: why" from __post_init__


def plural(kind: str) -> str:
    """Returns the lower-case plural of a kind, as in URLs and ``glassmesh get``."""
    low = kind.lower()
    return low[:-1] + "ies" if low.endswith("y") else low + "s"


def canonical_kind(text: str) -> str:
    """Returns the kind named by ``text`` (any case, singular or plural); raises ResourceError."""
    for kind in KINDS:
        if text.lower() in (kind.lower(), plural(kind)):
            return kind
    raise ResourceError("kind", f"unknown kind {text!r}; known: {', '.join(KINDS)}")


def _join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field


def _translate(exc: msgspec.ValidationError) -> ResourceError:
    text = str(exc)
    found = _AT.match(text)
    message, path = (found[1], found[2]) if found else (text, "")
    if named := _NAMED_FIELD.match(message):
        path = _join(path, named[1])
    elif own := _OWN_FIELD.fullmatch(message):
        path, message = _join(path, own[1]), own[2]
    if DURATION_PATTERN in message:
        message = "expected a duration like 10s, 500ms or 1h30m"
    return ResourceError(path, message)


def decode_resource(doc: dict[str, Any] | bytes) -> Resource:
    """Decodes and validates one resource (a dict, or JSON bytes); raises ResourceError."""
    if isinstance(doc, bytes):
        try:
            doc = msgspec.json.decode(doc)
        except msgspec.DecodeError as exc:
            raise ResourceError("", f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ResourceError("", "expected an object with apiVersion, kind, metadata and spec")
    kind = doc.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise ResourceError("kind", f"expected one of {', '.join(KINDS)}")
    if doc.get("apiVersion") != _API_VERSIONS[kind]:
        raise ResourceError("apiVersion", f"expected {_API_VERSIONS[kind]} for {kind}")
    try:
        return msgspec.convert(doc, type=KINDS[kind])
    except msgspec.ValidationError as exc:
        raise _translate(exc) from None


def json_schema(kind: str) -> dict[str, Any]:
    """Returns the JSON Schema of a kind (named as canonical_kind accepts); raises ResourceError."""
    return msgspec.json.schema(KINDS[canonical_kind(kind)])


def _host_service(host: str, namespace: str) -> tuple[str, str]:
    """(service, namespace) a TrafficPolicy host names: ``reviews`` or ``reviews.ns.svc...``."""
    parts = host.split(".")
    return (parts[0], parts[1] if len(parts) > 1 else namespace)


def check_subsets(route: HTTPRoute, policies: Iterable[TrafficPolicy]) -> None:
    """Raises ResourceError at ``spec.rules[i].backendRefs[j]`` for a subset no policy defines."""
    defined: set[tuple[str, str, str]] = set()
    for policy in policies:
        service = _host_service(policy.spec.host, policy.metadata.namespace)
        defined.update((*service, subset.name) for subset in policy.spec.subsets)
    for i, rule in enumerate(route.spec.rules):
        for j, ref in enumerate(rule.backendRefs):
            namespace = ref.namespace or route.metadata.namespace
            if ref.subset is not None and (ref.name, namespace, ref.subset) not in defined:
                raise ResourceError(
                    f"spec.rules[{i}].backendRefs[{j}]",
                    f"subset {ref.subset!r} is not defined by a TrafficPolicy for host {ref.name}",
                )
