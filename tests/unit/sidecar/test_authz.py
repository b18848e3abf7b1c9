"""AuthorizationPolicy evaluation with Istio's semantics."""

from __future__ import annotations

from typing import Any

import msgspec

from controlplane.api.resources import AuthorizationPolicy, decode_resource
from controlplane.api.resources.policies import peer_mode
from sidecar.authz import Authorizer, Request

WEB = "spiffe://cluster.local/ns/default/sa/web"
BATCH = "spiffe://cluster.local/ns/jobs/sa/batch"


def policy(
    action: str, rules: list[dict[str, Any]], namespace: str = "default", **spec: Any
) -> AuthorizationPolicy:
    doc = {
        "apiVersion": "glassmesh.io/v1alpha1",
        "kind": "AuthorizationPolicy",
        "metadata": {"name": f"{action.lower()}-{len(rules)}", "namespace": namespace},
        "spec": {"action": action, "rules": rules, **spec},
    }
    resource = decode_resource(doc)
    assert isinstance(resource, AuthorizationPolicy)
    return resource


def request(
    peer: str | None = WEB, method: bytes = b"GET", path: bytes = b"/", **fields: bytes
) -> Request:
    headers = {k.replace("_", "-").encode(): v for k, v in fields.items()}
    return Request(peer, method, path, b"reviews", headers.get)


def authorizer(*policies: AuthorizationPolicy, labels: dict[str, str] | None = None) -> Authorizer:
    return Authorizer(list(policies), "default", labels or {"app": "reviews"})


def test_no_policy_allows_everything() -> None:
    assert authorizer().empty and authorizer().allows(request(None))


def test_an_allow_policy_denies_what_it_does_not_match() -> None:
    source = {"principals": ["cluster.local/ns/default/sa/web"]}
    operation = {"methods": ["GET"], "paths": ["/reviews/*"]}
    allow = policy("ALLOW", [{"from": [{"source": source}], "to": [{"operation": operation}]}])
    a = authorizer(allow)
    assert a.allows(request(path=b"/reviews/1"))
    assert not a.allows(request(path=b"/ratings/1"))
    assert not a.allows(request(method=b"POST", path=b"/reviews/1"))
    assert not a.allows(request(BATCH, path=b"/reviews/1"))
    assert not a.allows(request(None, path=b"/reviews/1"))  # no certificate, no principal
    assert not authorizer(policy("ALLOW", [])).allows(request())  # rules: [] matches nothing
    assert authorizer(policy("ALLOW", [{}])).allows(request())  # an empty rule matches all


def test_deny_wins_over_allow() -> None:
    allow_all = policy("ALLOW", [{}])
    deny = policy("DENY", [{"to": [{"operation": {"paths": ["/admin", "/admin/*"]}}]}])
    a = authorizer(allow_all, deny)
    assert not a.allows(request(path=b"/admin"))
    assert not a.allows(request(path=b"/admin/users"))
    assert a.allows(request(path=b"/ADMIN"))  # paths are case-sensitive, as in Istio
    assert a.allows(request(path=b"/administrator"))


def test_namespaces_conditions_and_unknown_keys() -> None:
    from_jobs = policy("DENY", [{"from": [{"source": {"namespaces": ["jobs"]}}]}])
    assert not authorizer(from_jobs).allows(request(BATCH))
    assert authorizer(from_jobs).allows(request(WEB))
    header = policy("ALLOW", [{"when": [{"key": "request.headers[X-Tenant]", "values": ["a*"]}]}])
    assert authorizer(header).allows(request(x_tenant=b"acme"))
    assert not authorizer(header).allows(request(x_tenant=b"bravo"))
    assert not authorizer(header).allows(request())
    unknown = {"when": [{"key": "request.auth.claims[iss]", "values": ["x"]}]}
    assert not authorizer(policy("ALLOW", [unknown])).allows(request())  # fails closed
    assert not authorizer(policy("ALLOW", [{}]), policy("DENY", [unknown])).allows(request())


def test_which_policies_apply_to_this_workload() -> None:
    mesh_wide = policy("DENY", [{}], namespace="glassmesh-system")
    other_ns = policy("DENY", [{}], namespace="jobs")
    selected = policy("DENY", [{}], selector={"matchLabels": {"app": "ratings"}})
    assert authorizer(other_ns, selected).empty
    assert not authorizer(mesh_wide).allows(request())
    assert not authorizer(selected, labels={"app": "ratings"}).allows(request())
    names = authorizer(mesh_wide, other_ns).names
    assert names == ["glassmesh-system/deny-1"]
    assert msgspec.to_builtins(selected)["spec"]["selector"]["matchLabels"] == {"app": "ratings"}


def peer(mode: str, namespace: str = "default", selector: dict[str, str] | None = None) -> Any:
    doc: dict[str, Any] = {
        "apiVersion": "glassmesh.io/v1alpha1",
        "kind": "PeerAuthentication",
        "metadata": {"name": f"p-{mode.lower()}", "namespace": namespace},
        "spec": {"mtls": {"mode": mode}},
    }
    if selector:
        doc["spec"]["selector"] = {"matchLabels": selector}
    return decode_resource(doc)


def test_the_most_specific_peer_authentication_wins() -> None:
    labels = {"app": "reviews"}
    assert peer_mode([], "default", labels) == "STRICT"
    mesh = peer("PERMISSIVE", "glassmesh-system")
    assert peer_mode([mesh], "default", labels) == "PERMISSIVE"
    namespace = peer("STRICT")
    assert peer_mode([mesh, namespace], "default", labels) == "STRICT"
    workload = peer("DISABLE", selector={"app": "reviews"})
    assert peer_mode([workload, mesh, namespace], "default", labels) == "DISABLE"
    assert peer_mode([workload, namespace], "default", {"app": "ratings"}) == "STRICT"
    assert peer_mode([peer("PERMISSIVE", "jobs")], "default", labels) == "STRICT"


def test_remembered_decisions_never_cover_a_header_condition() -> None:
    header = policy("ALLOW", [{"when": [{"key": "request.headers[X-Tenant]", "values": ["a*"]}]}])
    a = authorizer(header)
    assert a.allows(request(x_tenant=b"acme"))
    assert not a.allows(request(x_tenant=b"bravo"))  # same caller, method and path
    b = authorizer(policy("ALLOW", [{"to": [{"operation": {"paths": ["/ok"]}}]}]))
    assert [b.allows(request(path=p)) for p in (b"/ok", b"/no", b"/ok", b"/no")] == [
        True,
        False,
        True,
        False,
    ]
