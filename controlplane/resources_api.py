"""The resources API: apply, list, get and delete mesh resources over HTTP with bearer tokens.

``POST /api/v1/resources`` applies one resource or a list: every one is validated first, then all
are stored in one transaction, so a bad one leaves the store untouched. Errors are JSON
``{"error": ..., "path": ...}`` (plus ``index`` for a list); 401/403 bodies say nothing more.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from controlplane.api.resources import (
    HTTPRoute,
    Resource,
    ResourceError,
    TrafficPolicy,
    canonical_kind,
    check_subsets,
    decode_resource,
)
from controlplane.auth import Forbidden, Scope, TokenAuth, Unauthenticated
from controlplane.store import Store

DEFAULT_BODY_LIMIT = 1 << 20
STORE = web.AppKey("store", Store)
AUTH = web.AppKey("auth", TokenAuth)
REJECTED: web.AppKey[Counter[int]] = web.AppKey("rejected")  # 4xx answers by status
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(status: int, body: Any) -> web.Response:
    return web.Response(
        status=status, body=msgspec.json.encode(body), content_type="application/json"
    )


def _error(status: int, message: str, path: str | None = None, **extra: Any) -> web.Response:
    body = {"error": message, **({} if path is None else {"path": path}), **extra}
    return _json(status, body)


def _guarded(scope: Scope, handler: Handler) -> Handler:
    """Wraps a handler so it runs only for a token granting ``scope``."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            request.app[AUTH].check(request.headers.get("Authorization"), scope)
        except Unauthenticated:
            response = _error(401, "unauthenticated")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        except Forbidden:
            return _error(403, "forbidden")
        return await handler(request)

    return guarded


class _Rejected(Exception):
    """The document at ``index`` of an apply is invalid."""

    def __init__(self, index: int, error: ResourceError) -> None:
        super().__init__(index, error)
        self.index = index
        self.error = error


def _decode_all(docs: list[Any]) -> list[Resource]:
    """Decodes every document; raises _Rejected for the first bad one."""
    resources = []
    for index, doc in enumerate(docs):
        try:
            resources.append(decode_resource(doc))
        except ResourceError as exc:
            raise _Rejected(index, exc) from None
    return resources


def _check_references(store: Store, batch: list[Resource]) -> None:
    """Checks every route's subsets against stored policies overlaid with those in the batch.

    Raises _Rejected for the first route naming an undefined subset.
    """
    policies = {p.key(): p for p in store.list("TrafficPolicy")}
    policies.update((r.key(), r) for r in batch if isinstance(r, TrafficPolicy))
    typed = [p for p in policies.values() if isinstance(p, TrafficPolicy)]
    for index, resource in enumerate(batch):
        if isinstance(resource, HTTPRoute):
            try:
                check_subsets(resource, typed)
            except ResourceError as exc:
                raise _Rejected(index, exc) from None


async def _apply(request: web.Request) -> web.Response:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "request body too large")
    try:
        parsed = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        return _error(400, f"not valid JSON: {exc}")
    docs = parsed if isinstance(parsed, list) else [parsed]
    store = request.app[STORE]
    try:
        resources = _decode_all(docs)
        _check_references(store, resources)
    except _Rejected as rejected:
        extra = {"index": rejected.index} if isinstance(parsed, list) else {}
        return _error(400, rejected.error.message, rejected.error.path, **extra)
    versions = store.put_all(resources)
    applied = [
        {"kind": r.kind, "namespace": r.metadata.namespace, "name": r.metadata.name,
         "resourceVersion": str(v)}
        for r, v in zip(resources, versions, strict=True)
    ]  # fmt: skip
    return _json(200, {"applied": applied})


def _kind(request: web.Request) -> str:
    """Returns the canonical kind named in the URL; raises HTTPNotFound for an unknown one."""
    try:
        return canonical_kind(request.match_info["kind"])
    except ResourceError:
        raise web.HTTPNotFound(
            text='{"error": "unknown kind"}', content_type="application/json"
        ) from None


async def _list(request: web.Request) -> web.Response:
    namespace = request.query.get("namespace") or None
    items = request.app[STORE].list(_kind(request), namespace)
    return _json(200, {"items": items, "revision": request.app[STORE].revision})


async def _get(request: web.Request) -> web.Response:
    info = request.match_info
    found = request.app[STORE].get(_kind(request), info["namespace"], info["name"])
    return _error(404, "not found") if found is None else _json(200, found)


async def _delete(request: web.Request) -> web.Response:
    info = request.match_info
    if not request.app[STORE].delete(_kind(request), info["namespace"], info["name"]):
        return _error(404, "not found")
    return _json(200, {"deleted": True, "revision": request.app[STORE].revision})


@web.middleware
async def _count_rejections(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts every 4xx answer by status, whether returned or raised (as by the router)."""
    counts = request.app[REJECTED]
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        counts.update([exc.status] if 400 <= exc.status < 500 else [])
        raise
    counts.update([response.status] if 400 <= response.status < 500 else [])
    return response


def make_resources_app(
    store: Store, auth: TokenAuth, body_limit: int = DEFAULT_BODY_LIMIT
) -> web.Application:
    """Returns the resources API as an aiohttp Application. The caller owns ``store``."""
    app = web.Application(client_max_size=body_limit, middlewares=[_count_rejections])
    app[REJECTED] = Counter()
    app[STORE] = store
    app[AUTH] = auth
    one = "/api/v1/resources/{kind}/{namespace}/{name}"
    app.router.add_post("/api/v1/resources", _guarded("admin", _apply))
    app.router.add_get("/api/v1/resources/{kind}", _guarded("read", _list))
    app.router.add_get(one, _guarded("read", _get))
    app.router.add_delete(one, _guarded("admin", _delete))
    return app
