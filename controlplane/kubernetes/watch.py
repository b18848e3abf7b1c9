"""List + watch of one resource type, the way every Kubernetes controller keeps a cache.

A watcher lists (``GET .../pods``) and hands the items to its handler, then watches from the
list's resourceVersion (``?watch=1&resourceVersion=N&allowWatchBookmarks=true``): each line of
the stream is one JSON event, ADDED / MODIFIED / DELETED (the object), BOOKMARK (only a newer
resourceVersion) or ERROR (a Status). The server ends a watch after ``timeoutSeconds``; the next
one resumes from the last resourceVersion seen. A 410 Gone (the version was compacted away, as
an HTTP status or an ERROR event) means events were missed: list again. Any other failure waits
a bounded, doubling backoff (reset by a successful list) and starts over with a list.

Requests go through the kubernetes_asyncio client (its configuration, TLS and credentials) with
``_preload_content=False``: we read the raw JSON, so events stay the API server's dicts.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from controlplane.kubernetes import KubernetesSettings

log = logging.getLogger("glassmesh.controlplane.kubernetes")
Obj = dict[str, Any]
Lister = Callable[..., Awaitable[Any]]  # a client list method, e.g. CoreV1Api.list_pod_...
GONE = 410
NOT_FOUND = 404
WATCH_EVENTS = ("ADDED", "MODIFIED", "DELETED")


class Handler(Protocol):
    """Receives what a watcher learns. Neither method blocks or raises for a bad object."""

    def replace(self, items: list[Obj]) -> None:
        """Everything that exists now (after a list): forget what is not among ``items``."""

    def apply(self, event: str, obj: Obj) -> None:
        """One change: ``event`` is ADDED, MODIFIED or DELETED."""


class WatchError(Exception):
    """The API server answered with an error (``status``, when it was an HTTP one), or with
    something that is not its protocol."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Gone(WatchError):
    """The resourceVersion we asked for is too old (410): we must list again."""


@dataclass
class WatchStats:
    """What a watcher has done, for status pages and tests."""

    lists: int = 0
    events: int = 0
    gone: int = 0
    errors: int = 0
    last_error: str | None = None
    synced: bool = False  # a list has been handed to the handler


async def raw_response(call: Awaitable[Any]) -> aiohttp.ClientResponse:
    """The raw response of a client call made with ``_preload_content=False``; raises Gone for
    410 and WatchError for any other non-2xx status (the body's message included)."""
    response = await call
    if not isinstance(response, aiohttp.ClientResponse):
        raise TypeError(f"expected a raw response, got {type(response).__name__}")
    if response.status == GONE:
        response.release()
        raise Gone("410 Gone")
    if not 200 <= response.status < 300:
        body = (await response.read())[:512].decode(errors="replace")
        response.release()
        raise WatchError(f"HTTP {response.status}: {body}", response.status)
    return response


class Watcher:
    """Keeps ``handler`` in step with one resource type until cancelled."""

    def __init__(
        self,
        name: str,
        lister: Lister,
        handler: Handler,
        settings: KubernetesSettings,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name = name
        self.stats = WatchStats()
        self._lister = lister
        self._handler = handler
        self._settings = settings
        self._sleep = sleep

    async def run(self) -> None:
        """List, then watch, forever; failures are logged, counted and retried with backoff."""
        delay = self._settings.backoff_initial_s
        while True:
            try:
                version = await self._list()
                delay = self._settings.backoff_initial_s
                while True:  # each round ends when the server closes the watch (timeoutSeconds)
                    version = await self._watch(version)
            except Gone:
                self.stats.gone += 1
                log.info("%s: resourceVersion too old (410 Gone); listing again", self.name)
                continue
            except (WatchError, ApiException, aiohttp.ClientError, TimeoutError, ValueError) as exc:
                self.stats.errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:300]
                # 404: the kind is not served (its CRD not installed): normal, so quieter.
                level = (
                    logging.INFO if getattr(exc, "status", None) == NOT_FOUND else logging.WARNING
                )
                log.log(level, "%s: %s; retrying in %.1fs", self.name, self.stats.last_error, delay)
            except Exception:  # our bug: it must not end the watch for good
                self.stats.errors += 1
                log.exception("%s: watch failed; retrying in %.1fs", self.name, delay)
            await self._sleep(delay)
            delay = min(delay * 2, self._settings.backoff_max_s)

    async def _list(self) -> str:
        """Lists every object, hands them to the handler; returns the list's resourceVersion."""
        timeout = self._settings.watch_timeout_s
        response = await raw_response(
            self._lister(_preload_content=False, _request_timeout=timeout)
        )
        async with response:
            body = await response.json(content_type=None)
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise WatchError("a list answer without items")
        self._handler.replace([i for i in body["items"] if isinstance(i, dict)])
        self.stats.lists += 1
        self.stats.synced = True
        return str((body.get("metadata") or {}).get("resourceVersion") or "")

    async def _watch(self, version: str) -> str:
        """Watches from ``version`` until the server ends the stream; returns the last
        resourceVersion seen (raises Gone when it is too old)."""
        server_timeout = max(1, int(self._settings.watch_timeout_s))
        response = await raw_response(
            self._lister(
                watch=True,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=server_timeout,
                _preload_content=False,
                _request_timeout=server_timeout + 30,
            )
        )
        async with response:
            while line := await response.content.readline():
                if line.strip():
                    version = self._event(line, version)
        return version

    def _event(self, line: bytes, version: str) -> str:
        """Handles one line of a watch stream; returns the resourceVersion after it."""
        try:
            event = json.loads(line)
        except ValueError:
            raise WatchError("a watch line that is not JSON") from None
        kind = event.get("type") if isinstance(event, dict) else None
        obj = event.get("object") if isinstance(event, dict) else None
        if not isinstance(obj, dict):
            raise WatchError("a watch event without an object")
        if kind == "ERROR":
            if obj.get("code") == GONE:
                raise Gone(str(obj.get("message") or "410 Gone"))
            raise WatchError(f"watch error {obj.get('code')}: {obj.get('message')}")
        if kind in WATCH_EVENTS:
            self.stats.events += 1
            self._handler.apply(kind, obj)
        elif kind != "BOOKMARK":
            raise WatchError(f"unknown watch event type {kind!r}")
        return str((obj.get("metadata") or {}).get("resourceVersion") or version)
