"""AuthorizationPolicy enforcement on the inbound listener, with Istio's semantics.

The policies that apply to this workload are the selector-less ones of the root namespace
(mesh-wide) and of its own namespace, and those of its namespace whose selector its labels match.
A request is denied if any DENY policy matches it; else allowed if no ALLOW policy applies or
one matches it; else denied. A policy matches when one of its rules does; a rule when its
``from`` (any source), ``to`` (any operation) and every ``when`` condition hold (an empty part
holds). Strings match exactly, by prefix (``abc*``), by suffix (``*abc``) or as ``*`` (present).
Principals are SPIFFE IDs without ``spiffe://`` (``cluster.local/ns/default/sa/web``); a caller
without a certificate has none. Paths are matched after ``sidecar.pathnorm`` normalization. A
condition key this sidecar does not know fails closed: it never makes an ALLOW rule match, and
always makes a DENY rule match.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from controlplane.api.resources.base import ROOT_NAMESPACE
from controlplane.api.resources.policies import (
    AuthorizationPolicy,
    AuthorizationRule,
    Condition,
    Operation,
    Source,
)

Test = Callable[["Request"], bool]


class Request:
    """What a rule can look at."""

    __slots__ = ("fields", "host", "method", "namespace", "path", "principal")

    def __init__(
        self,
        peer_id: str | None,
        method: bytes,
        path: bytes,
        host: bytes,
        fields: Callable[[bytes], bytes | None],
    ) -> None:
        self.principal = peer_id[len("spiffe://") :] if peer_id else None
        parts = self.principal.split("/") if self.principal else []
        self.namespace = parts[2] if len(parts) > 3 and parts[1] == "ns" else None
        self.method = method.decode("latin-1")
        self.path = path.decode("latin-1")
        self.host = host.decode("latin-1").lower()
        self.fields = fields


def _any_of(patterns: Sequence[str]) -> Callable[[str | None], bool]:
    """One test for a list of patterns: a set lookup for the exact ones, one startswith and one
    endswith call (with tuples) for the rest."""
    exact = frozenset(p for p in patterns if "*" not in p)
    prefixes = tuple(p[:-1] for p in patterns if p.endswith("*") and p != "*")
    suffixes = tuple(p[1:] for p in patterns if p.startswith("*") and p != "*" and p[1:])
    present = "*" in patterns

    def test(value: str | None) -> bool:
        if value is None:
            return False
        return (
            present
            or value in exact
            or (bool(prefixes) and value.startswith(prefixes))
            or (bool(suffixes) and value.endswith(suffixes))
        )

    return test


def _field_test(
    values: Sequence[str], not_values: Sequence[str], get: Callable[[Request], str | None]
) -> Test:
    yes, no = _any_of(values), _any_of(not_values)
    return lambda r: (not values or yes(get(r))) and not no(get(r))


def _source(source: Source) -> Test:
    principals = _field_test(source.principals, source.notPrincipals, lambda r: r.principal)
    namespaces = _field_test(source.namespaces, source.notNamespaces, lambda r: r.namespace)
    return lambda r: principals(r) and namespaces(r)


def _operation(op: Operation) -> Test:
    methods = _field_test(op.methods, [], lambda r: r.method)
    paths = _field_test(op.paths, op.notPaths, lambda r: r.path)
    hosts = _field_test([h.lower() for h in op.hosts], [], lambda r: r.host)
    return lambda r: methods(r) and paths(r) and hosts(r)


def _condition(condition: Condition, deny: bool) -> Test:
    key = condition.key
    get: Callable[[Request], str | None]
    if key == "source.principal":
        get = lambda r: r.principal  # noqa: E731
    elif key == "source.namespace":
        get = lambda r: r.namespace  # noqa: E731
    elif key == "request.method":
        get = lambda r: r.method  # noqa: E731
    elif key.startswith("request.headers[") and key.endswith("]"):
        name = key[len("request.headers[") : -1].lower().encode("latin-1")

        def get(r: Request) -> str | None:
            value = r.fields(name)
            return None if value is None else value.decode("latin-1")
    else:
        return lambda r: deny  # unknown: fail closed
    return _field_test(condition.values, condition.notValues, get)


def _rule(rule: AuthorizationRule, deny: bool) -> Test:
    sources = [_source(f.source) for f in rule.from_]
    operations = [_operation(t.operation) for t in rule.to]
    conditions = [_condition(c, deny) for c in rule.when]
    return lambda r: (
        (not sources or any(s(r) for s in sources))
        and (not operations or any(o(r) for o in operations))
        and all(c(r) for c in conditions)
    )


CACHE_SIZE = 4096


class Authorizer:
    """The compiled policies that apply to one workload. Decisions that depend on no header are
    remembered (by principal, method, path and host; at most CACHE_SIZE, then forgotten at once),
    so a hot endpoint costs a dictionary lookup."""

    def __init__(
        self, policies: Sequence[AuthorizationPolicy], namespace: str, labels: Mapping[str, str]
    ) -> None:
        mine = [p for p in policies if _applies(p, namespace, labels)]
        self._cacheable = not any(
            c.key.startswith("request.headers[") for p in mine for r in p.spec.rules for c in r.when
        )
        self._cache: dict[tuple[str | None, str, str, str], bool] = {}
        self.names = sorted(f"{p.metadata.namespace}/{p.metadata.name}" for p in mine)
        self._deny = [_rule(r, True) for p in mine if p.spec.action == "DENY" for r in p.spec.rules]
        allows = [p for p in mine if p.spec.action == "ALLOW"]
        self._allow = [_rule(r, False) for p in allows for r in p.spec.rules]
        self._allow_applies = bool(allows)

    @property
    def empty(self) -> bool:
        """Whether no policy applies (every request is allowed)."""
        return not self._deny and not self._allow_applies

    def allows(self, request: Request) -> bool:
        """Whether ``request`` may reach the app."""
        if not self._cacheable:
            return self._decide(request)
        key = (request.principal, request.method, request.path, request.host)
        decision = self._cache.get(key)
        if decision is None:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            decision = self._cache[key] = self._decide(request)
        return decision

    def _decide(self, request: Request) -> bool:
        if any(rule(request) for rule in self._deny):
            return False
        return not self._allow_applies or any(rule(request) for rule in self._allow)


def _applies(policy: AuthorizationPolicy, namespace: str, labels: Mapping[str, str]) -> bool:
    selector = policy.spec.selector
    if policy.metadata.namespace == ROOT_NAMESPACE and selector is None:
        return True
    if policy.metadata.namespace != namespace:
        return False
    return selector is None or selector.matchLabels.items() <= labels.items()
