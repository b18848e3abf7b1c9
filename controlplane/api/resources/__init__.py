"""The mesh resource kinds users apply: Gateway API HTTPRoute plus glassmesh.io policies.

Every kind has a Kubernetes envelope (apiVersion, kind, metadata, spec). Structs are frozen and
forbid unknown fields; ``decode_resource`` raises ``ResourceError`` whose ``path`` names the field
at fault (``spec.rules[0].backendRefs[1].weight``). Checks that need other resources (a backendRef
subset must be defined by a TrafficPolicy) are in ``check_subsets``, called by whoever stores them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec

from controlplane.api.resources.base import (
    DURATION_PATTERN,
    GATEWAY_V1,
    GLASSMESH_V1ALPHA1,
    MAX_REGEX_BYTES,
    ROOT_NAMESPACE,
    Config,
    Count,
    Duration,
    HeaderName,
    HeaderValue,
    Hostname,
    Labels,
    Metadata,
    Method,
    Name,
    Namespace,
    Percent,
    Port,
    Resource,
    ResourceError,
    Selector,
    check_regex,
    exactly_one,
    parse_duration,
)
from controlplane.api.resources.policies import (
    AccessLogFilter,
    AccessLogging,
    AuthorizationPolicy,
    AuthorizationPolicySpec,
    AuthorizationRule,
    Condition,
    ConnectionPool,
    ConsistentHash,
    CookieHash,
    Fault,
    FaultAbort,
    FaultDelay,
    FaultSpec,
    From,
    HttpPool,
    LoadBalancer,
    MutualTLS,
    Operation,
    OutlierDetection,
    PeerAuthentication,
    PeerAuthenticationSpec,
    Source,
    Subset,
    TcpPool,
    Telemetry,
    TelemetrySpec,
    To,
    Tracing,
    TrafficPolicy,
    TrafficPolicySpec,
    TrafficSettings,
)
from controlplane.api.resources.route import (
    BackendRef,
    ExtensionRef,
    HeaderModifier,
    HeaderSet,
    HTTPRoute,
    HTTPRouteSpec,
    ObjectRef,
    ParentRef,
    PathMatch,
    PathModifier,
    RequestMirror,
    Retry,
    RouteFilter,
    RouteMatch,
    RouteRule,
    Timeouts,
    URLRewrite,
    ValueMatch,
)

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


__all__ = [
    "DURATION_PATTERN",
    "GATEWAY_V1",
    "GLASSMESH_V1ALPHA1",
    "MAX_REGEX_BYTES",
    "ROOT_NAMESPACE",
    "AccessLogFilter",
    "AccessLogging",
    "AuthorizationPolicy",
    "AuthorizationPolicySpec",
    "AuthorizationRule",
    "BackendRef",
    "Condition",
    "Config",
    "ConnectionPool",
    "ConsistentHash",
    "CookieHash",
    "Count",
    "Duration",
    "ExtensionRef",
    "Fault",
    "FaultAbort",
    "FaultDelay",
    "FaultSpec",
    "From",
    "HTTPRoute",
    "HTTPRouteSpec",
    "HeaderModifier",
    "HeaderName",
    "HeaderSet",
    "HeaderValue",
    "Hostname",
    "HttpPool",
    "Labels",
    "LoadBalancer",
    "Metadata",
    "Method",
    "MutualTLS",
    "Name",
    "Namespace",
    "ObjectRef",
    "Operation",
    "OutlierDetection",
    "ParentRef",
    "PathMatch",
    "PathModifier",
    "PeerAuthentication",
    "PeerAuthenticationSpec",
    "Percent",
    "Port",
    "RequestMirror",
    "Resource",
    "ResourceError",
    "Retry",
    "RouteFilter",
    "RouteMatch",
    "RouteRule",
    "Selector",
    "Source",
    "Subset",
    "TcpPool",
    "Telemetry",
    "TelemetrySpec",
    "Timeouts",
    "To",
    "Tracing",
    "TrafficPolicy",
    "TrafficPolicySpec",
    "TrafficSettings",
    "URLRewrite",
    "ValueMatch",
    "canonical_kind",
    "check_regex",
    "check_subsets",
    "decode_resource",
    "exactly_one",
    "json_schema",
    "parse_duration",
    "plural",
]
