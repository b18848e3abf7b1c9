"""Gateway API HTTPRoute (v1) with GAMMA semantics: the parent is a Service."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from controlplane.api.resources.base import (
    GATEWAY_V1,
    Config,
    Duration,
    HeaderName,
    HeaderValue,
    Hostname,
    Method,
    Name,
    Namespace,
    Percent,
    Port,
    Resource,
    check_regex,
)

# --- HTTPRoute (Gateway API v1, GAMMA: the parent is a Service) ---------------------------------


class ParentRef(Config, frozen=True):
    """The Service whose traffic the route governs (GAMMA)."""

    name: Name
    group: Literal[""] = ""
    kind: Literal["Service"] = "Service"
    namespace: Namespace | None = None
    port: Port | None = None


class PathMatch(Config, frozen=True):
    """Matches the request path."""

    type: Literal["Exact", "PathPrefix", "RegularExpression"] = "PathPrefix"
    value: str = "/"

    def __post_init__(self) -> None:
        if self.type == "RegularExpression":
            _check_regex_field(self.value)
        elif not self.value.startswith("/"):
            raise ValueError("value: a path must start with /")


class ValueMatch(Config, frozen=True):
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


class RouteMatch(Config, frozen=True):
    """A request matches when every condition given here holds."""

    path: PathMatch = PathMatch()
    headers: list[ValueMatch] = []
    queryParams: list[ValueMatch] = []
    method: Method | None = None


class HeaderSet(Config, frozen=True):
    name: HeaderName
    value: HeaderValue


class HeaderModifier(Config, frozen=True):
    """Sets, adds or removes request or response headers."""

    set: list[HeaderSet] = []
    add: list[HeaderSet] = []
    remove: list[HeaderName] = []


class PathModifier(Config, frozen=True):
    type: Literal["ReplaceFullPath", "ReplacePrefixMatch"]
    replaceFullPath: str | None = None
    replacePrefixMatch: str | None = None

    def __post_init__(self) -> None:
        wanted = "replaceFullPath" if self.type == "ReplaceFullPath" else "replacePrefixMatch"
        if getattr(self, wanted) is None:
            raise ValueError(f"{wanted}: required when type is {self.type}")


class URLRewrite(Config, frozen=True):
    hostname: Hostname | None = None
    path: PathModifier | None = None


class ObjectRef(Config, frozen=True):
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


class RequestMirror(Config, frozen=True):
    backendRef: ObjectRef
    percent: Percent | None = None


class ExtensionRef(Config, frozen=True):
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


class RouteFilter(Config, frozen=True):
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


class Timeouts(Config, frozen=True):
    request: Duration | None = None
    backendRequest: Duration | None = None


class Retry(Config, frozen=True):
    """GEP-1731 retries: which status codes, how many attempts, the backoff between them."""

    attempts: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    backoff: Duration | None = None
    codes: list[Annotated[int, msgspec.Meta(ge=400, le=599)]] = []


class RouteRule(Config, frozen=True):
    name: Name | None = None
    matches: list[RouteMatch] = []
    filters: list[RouteFilter] = []
    backendRefs: list[BackendRef] = []
    timeouts: Timeouts | None = None
    retry: Retry | None = None


class HTTPRouteSpec(Config, frozen=True):
    parentRefs: list[ParentRef] = []
    hostnames: list[Hostname] = []
    rules: list[RouteRule] = []


class HTTPRoute(Resource, frozen=True, kw_only=True):
    """Routing for requests to a Service (Gateway API HTTPRoute, GAMMA)."""

    apiVersion: Literal["gateway.networking.k8s.io/v1"] = GATEWAY_V1
    kind: Literal["HTTPRoute"] = "HTTPRoute"
    spec: HTTPRouteSpec
