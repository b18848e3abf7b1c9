"""The mesh resource kinds: realistic YAML decodes, bad input is refused at its exact JSON path."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import msgspec
import pytest
import yaml

from controlplane.api.resources import (
    KINDS,
    Fault,
    HTTPRoute,
    PeerAuthentication,
    ResourceError,
    TrafficPolicy,
    canonical_kind,
    check_regex,
    check_subsets,
    decode_resource,
    json_schema,
    parse_duration,
)

EXAMPLES = yaml.safe_load_all("""
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: bookinfo, labels: {app: reviews}}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  hostnames: [reviews.bookinfo.svc.cluster.local]
  rules:
  - matches:
    - path: {type: PathPrefix, value: /api}
      headers: [{type: RegularExpression, name: x-user, value: "^(jason|ana)$"}]
      queryParams: [{type: RegularExpression, name: debug, value: "^[01]$"}]
      method: GET
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-env, value: canary}], remove: [x-debug]}
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}
    - type: RequestMirror
      requestMirror: {backendRef: {name: reviews-shadow, port: 9080}, percent: 10}
    - type: ExtensionRef
      extensionRef: {group: glassmesh.io, kind: Fault, name: slow-reviews}
    backendRefs:
    - {name: reviews, port: 9080, weight: 90, subset: v1}
    - {name: reviews, port: 9080, weight: 10, subset: v2}
    timeouts: {request: 10s, backendRequest: 500ms}
    retry: {attempts: 3, backoff: 100ms, codes: [502, 503]}
---
apiVersion: glassmesh.io/v1alpha1
kind: TrafficPolicy
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {consistentHash: {httpCookie: {name: user, ttl: 1h}}}
    connectionPool:
      http: {maxRequestsPerConnection: 100, http1MaxPendingRequests: 64}
      tcp: {maxConnections: 200, connectTimeout: 2s}
    outlierDetection:
      consecutive5xxErrors: 5
      consecutiveGatewayErrors: 3
      interval: 10s
      baseEjectionTime: 30s
      maxEjectionPercent: 50
  subsets:
  - {name: v1, labels: {version: v1}}
  - name: v2
    labels: {version: v2}
    trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
---
apiVersion: glassmesh.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: ratings-viewer, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: ratings}}
  action: ALLOW
  rules:
  - from:
    - source: {principals: [spiffe://cluster.local/ns/bookinfo/sa/reviews]}
    - source: {namespaces: [bookinfo], notNamespaces: [untrusted]}
    to:
    - operation: {methods: [GET], paths: [/ratings/*], notPaths: [/ratings/admin], hosts: [ratings]}
    when:
    - {key: "request.headers[x-tenant]", values: [acme]}
---
apiVersion: glassmesh.io/v1alpha1
kind: PeerAuthentication
metadata: {name: default, namespace: glassmesh-system}
spec:
  mtls: {mode: STRICT}
---
apiVersion: glassmesh.io/v1alpha1
kind: Telemetry
metadata: {name: mesh-default, namespace: glassmesh-system}
spec:
  tracing: [{randomSamplingPercentage: 12.5}]
  accessLogging: [{filter: {expression: response.code >= 400}}, {disabled: false}]
---
apiVersion: glassmesh.io/v1alpha1
kind: Fault
metadata: {name: slow-reviews, namespace: bookinfo}
spec:
  delay: {percentage: 10, fixedDelay: 2s}
  abort: {percentage: 5, httpStatus: 503}
""")
BY_KIND: dict[str, dict[str, Any]] = {doc["kind"]: doc for doc in EXAMPLES}


def test_every_kind_has_an_example() -> None:
    assert set(BY_KIND) == set(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_decodes_from_realistic_yaml(kind: str) -> None:
    resource = decode_resource(BY_KIND[kind])
    assert isinstance(resource, KINDS[kind])
    assert resource.kind == kind
    assert resource.metadata.resourceVersion is None


def test_decoded_route_carries_the_fields_a_sidecar_needs() -> None:
    route = decode_resource(BY_KIND["HTTPRoute"])
    assert isinstance(route, HTTPRoute)
    rule = route.spec.rules[0]
    assert [(b.subset, b.weight) for b in rule.backendRefs] == [("v1", 90), ("v2", 10)]
    assert rule.matches[0].headers[0].type == "RegularExpression"
    assert rule.timeouts is not None and rule.timeouts.backendRequest == "500ms"


def test_json_bytes_and_yaml_decode_alike_and_round_trip() -> None:
    doc = BY_KIND["AuthorizationPolicy"]
    resource = decode_resource(json.dumps(doc).encode())
    assert resource == decode_resource(doc)
    assert decode_resource(msgspec.to_builtins(resource)) == resource
    assert msgspec.to_builtins(resource)["spec"]["rules"][0]["from"][0]["source"]["principals"]


def test_defaults_fill_in_like_kubernetes() -> None:
    resource = decode_resource(BY_KIND["PeerAuthentication"])
    assert isinstance(resource, PeerAuthentication)
    assert resource.is_mesh_wide()
    fault = decode_resource({**BY_KIND["Fault"], "metadata": {"name": "f"}})
    assert isinstance(fault, Fault)
    assert fault.metadata.namespace == "default"


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    """Sets the value at a JSON path like ``spec.rules[0].backendRefs[1].weight``."""
    *parents, last = [int(p) if p.isdigit() else p for p in re.split(r"\.|\[|\]\.?", path) if p]
    target: Any = doc
    for part in parents:
        target = target[part]
    target[last] = value


R0 = "spec.rules[0]"
OUTLIER = "spec.trafficPolicy.outlierDetection"
BAD_REGEX_PATH = {"type": "RegularExpression", "value": "/v[0-9"}
# (kind, where to set, the value set there, the path the error names if not the same)
BAD: list[tuple[str, str, Any, str | None]] = [
    ("HTTPRoute", f"{R0}.backendRefs[1].weight", 1_000_001, None),
    ("HTTPRoute", f"{R0}.backendRefs[0].weight", -1, None),
    ("HTTPRoute", "spec.colour", "blue", None),
    ("HTTPRoute", f"{R0}.matches[0].path", BAD_REGEX_PATH, f"{R0}.matches[0].path.value"),
    ("HTTPRoute", f"{R0}.matches[0].headers[0].value", "^(a[$", None),
    ("HTTPRoute", f"{R0}.matches[0].headers[0].value", "(a+)+$", None),
    ("HTTPRoute", f"{R0}.matches[0].queryParams[0].value", "a" * 1025, None),
    ("HTTPRoute", f"{R0}.timeouts.request", "10 seconds", None),
    ("HTTPRoute", f"{R0}.retry.codes", [200], f"{R0}.retry.codes[0]"),
    ("HTTPRoute", f"{R0}.matches[0].method", "FETCH", None),
    ("HTTPRoute", f"{R0}.filters[1].type", "RequestMirror", f"{R0}.filters[1].urlRewrite"),
    ("HTTPRoute", f"{R0}.filters[3].extensionRef.kind", "Pod", None),
    ("HTTPRoute", "spec.parentRefs[0].kind", "Gateway", None),
    ("HTTPRoute", f"{R0}.backendRefs[0].port", "9080", None),
    ("HTTPRoute", "metadata.name", "Not_A_Name", None),
    ("TrafficPolicy", f"{OUTLIER}.interval", "10", None),
    ("TrafficPolicy", f"{OUTLIER}.maxEjectionPercent", 101, None),
    ("TrafficPolicy", "spec.trafficPolicy.loadBalancer.simple", "RANDOM", None),
    ("AuthorizationPolicy", "spec.action", "PERMIT", None),
    ("AuthorizationPolicy", "spec.rules[0].from[0].source.principal", ["x"], None),
    ("PeerAuthentication", "spec.mtls.mode", "STRICTER", None),
    ("Telemetry", "spec.tracing[0].randomSamplingPercentage", 101, None),
    ("Fault", "spec.abort.httpStatus", 99, None),
    ("Fault", "spec.delay.percentage", 100.5, None),
    ("Fault", "spec", {}, "spec.delay"),
    ("Fault", "apiVersion", "glassmesh.io/v1", None),
    ("Fault", "kind", "Chaos", None),
]


@pytest.mark.parametrize(("kind", "where", "value", "path"), BAD)
def test_bad_input_is_refused_at_its_path(
    kind: str, where: str, value: Any, path: str | None
) -> None:
    doc = copy.deepcopy(BY_KIND[kind])
    _set(doc, where, value)
    with pytest.raises(ResourceError) as caught:
        decode_resource(doc)
    assert caught.value.path == (path or where)
    assert caught.value.message


def test_a_missing_field_is_named() -> None:
    doc = copy.deepcopy(BY_KIND["Fault"])
    del doc["metadata"]["name"]
    with pytest.raises(ResourceError, match="required field") as caught:
        decode_resource(doc)
    assert caught.value.path == "metadata.name"


def test_a_bad_duration_message_says_what_a_duration_looks_like() -> None:
    doc = copy.deepcopy(BY_KIND["Fault"])
    doc["spec"]["delay"]["fixedDelay"] = "2 s"
    with pytest.raises(ResourceError, match="duration like 10s"):
        decode_resource(doc)


def test_malformed_json_is_refused_at_the_root() -> None:
    with pytest.raises(ResourceError, match="not valid JSON") as caught:
        decode_resource(b"{nope")
    assert caught.value.path == ""


@pytest.mark.parametrize("pattern", ["(a+)+", "(a*)*b", "((ab+))+", "(?:x{2,})+", "(a+){3}"])
def test_nested_quantifiers_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="nested quantifier"):
        check_regex(pattern)


@pytest.mark.parametrize("pattern", ["(ab)+", "a+b+", "(a|b)*", "[(]a+[)]+", r"\(a+\)+", "(a+)?"])
def test_safe_patterns_are_accepted(pattern: str) -> None:
    check_regex(pattern)


@pytest.mark.parametrize(("text", "seconds"), [("10s", 10), ("500ms", 0.5), ("1h30m", 5400)])
def test_durations_parse_to_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_parse_duration_refuses_a_decimal() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("1.5s")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_json_schema_exists_for_every_kind(kind: str) -> None:
    schema = json_schema(kind.lower())
    definition = schema["$defs"][kind]
    assert set(definition["required"]) >= {"metadata", "spec"}
    assert definition["additionalProperties"] is False


def test_kinds_are_named_by_singular_or_plural() -> None:
    assert canonical_kind("authorizationpolicies") == "AuthorizationPolicy"
    assert canonical_kind("HTTPRoute") == "HTTPRoute"
    with pytest.raises(ResourceError):
        canonical_kind("virtualservice")


def _route_and_policy() -> tuple[HTTPRoute, TrafficPolicy]:
    route, policy = decode_resource(BY_KIND["HTTPRoute"]), decode_resource(BY_KIND["TrafficPolicy"])
    assert isinstance(route, HTTPRoute) and isinstance(policy, TrafficPolicy)
    return route, policy


def test_subsets_defined_by_a_policy_for_the_host_pass() -> None:
    route, policy = _route_and_policy()
    check_subsets(route, [policy])


def test_an_undefined_subset_is_refused_at_its_backend_ref() -> None:
    route, policy = _route_and_policy()
    only_v1 = msgspec.structs.replace(
        policy, spec=msgspec.structs.replace(policy.spec, subsets=policy.spec.subsets[:1])
    )
    with pytest.raises(ResourceError, match="'v2'") as caught:
        check_subsets(route, [only_v1])
    assert caught.value.path == "spec.rules[0].backendRefs[1]"


def test_a_policy_in_another_namespace_does_not_define_subsets() -> None:
    route, policy = _route_and_policy()
    elsewhere = msgspec.structs.replace(
        policy, metadata=msgspec.structs.replace(policy.metadata, namespace="other")
    )
    with pytest.raises(ResourceError):
        check_subsets(route, [elsewhere])
