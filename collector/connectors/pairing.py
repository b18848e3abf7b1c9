"""Tempo's service-graph algorithm: pair client and server spans into edges, name lost peers.

A CLIENT (or PRODUCER) span is half an edge keyed by (trace id, its span id); a SERVER (or
CONSUMER) span is the other half, keyed by (trace id, its parent span id). The first half waits
in the EdgeStore; the second completes the edge, which is counted on (client service, server
service, connection_type). A half whose wait ends alone becomes an edge to a virtual node when
it can name its peer, else it is counted as unpaired:

* a CLIENT span with ``db.*`` attributes is a ``database`` edge at once (no server span will come);
* a CLIENT/PRODUCER half left alone names its server from the peer attributes (``peer.service``,
  ``db.name``, ``db.system``, ``messaging.system``, ``server.address`` by default);
* a root SERVER/CONSUMER half (no parent) was called from outside the traces: its client is
  ``user`` (as in the OpenTelemetry Collector's connector; its attributes are not read, which
  keeps server spans free of attribute scans). A non-root one lost its client half: unpaired.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from collector.connectors.attributes import first_text, pick, text
from collector.connectors.edgestore import CLIENT, SERVER, EdgeStore, Half
from collector.connectors.graphtally import EdgeTallies
from collector.connectors.weights import Weigher, ratio_weight
from collector.otlp.spanbatch import (
    CODE,
    END,
    KIND,
    PARENT,
    PROTO,
    SPAN,
    START,
    STATE,
    TRACE,
    Group,
    Row,
)

ERROR = Status.STATUS_CODE_ERROR
KIND_CLIENT, KIND_SERVER = Span.SPAN_KIND_CLIENT, Span.SPAN_KIND_SERVER
KIND_PRODUCER, KIND_CONSUMER = Span.SPAN_KIND_PRODUCER, Span.SPAN_KIND_CONSUMER
CLIENT_KINDS = frozenset((KIND_CLIENT, KIND_PRODUCER))
SERVER_KINDS = frozenset((KIND_SERVER, KIND_CONSUMER))
MESSAGING, DATABASE, VIRTUAL = "messaging_system", "database", "virtual_node"
DB_KEYS = ("db.namespace", "db.name", "db.system.name", "db.system")
NAME_KEYS = ("peer.service", "server.address")  # name a database before its db.* attributes
HTTP_STATUS_KEYS = ("http.response.status_code", "http.status_code")
UNKNOWN_CALLER = "user"
Found = list[AnyValue | None]


class _Keys:
    """Slots of every attribute a span may be asked for (one pass collects them all)."""

    def __init__(self, peer_attributes: Sequence[str], multiplier_key: str) -> None:
        names = [*peer_attributes, *DB_KEYS, *NAME_KEYS, *HTTP_STATUS_KEYS]
        names += ["network.peer.address", "network.peer.port"] + (
            [multiplier_key] * bool(multiplier_key)
        )
        self.wanted = {name: i for i, name in enumerate(dict.fromkeys(names))}
        slot = self.wanted.__getitem__
        self.peer = [slot(k) for k in peer_attributes]
        self.db = [slot(k) for k in DB_KEYS]
        self.name = [slot(k) for k in NAME_KEYS]
        self.address, self.port = slot("network.peer.address"), slot("network.peer.port")
        self.status = [slot(k) for k in HTTP_STATUS_KEYS]
        self.multiplier = slot(multiplier_key) if multiplier_key else -1


class Pairer:
    """Feeds spans through the EdgeStore into EdgeTallies. Not thread-safe; never blocks."""

    def __init__(
        self,
        store: EdgeStore,
        tallies: EdgeTallies,
        weigher: Weigher,
        peer_attributes: Sequence[str],
        multiplier_key: str,
    ) -> None:
        self.store = store
        self.tallies = tallies
        self.namespaces: dict[str, str] = {}  # every service.name seen -> its namespace or ""
        self._weigher = weigher
        self._keys = _Keys(peer_attributes, multiplier_key)
        self._scan_servers = bool(multiplier_key)

    def consume(self, groups: Sequence[Group], now: float) -> None:
        """Pairs every client/server span of ``groups``; halves wait until ``now`` + wait_s.

        Server halves go first: a client whose server half is in the same batch then completes
        its edge without reading its attributes (they only name peers of unpaired halves)."""
        expires = now + self.store.wait_s
        named = [g for g in groups if g.service]  # like Tempo: no service, no node
        for group in named:
            self._remember(group.service, group.namespace)
            for row in group.rows:
                kind = row[KIND]
                if kind in SERVER_KINDS:
                    self._server(row, group.service, kind == KIND_CONSUMER, expires)
        for group in named:
            for row in group.rows:
                kind = row[KIND]
                if kind in CLIENT_KINDS:
                    self._client(row, group.service, kind == KIND_PRODUCER, expires)

    def _remember(self, service: str, namespace: str) -> None:
        known = self.namespaces
        if known.get(service) != namespace and len(known) < self.store.max_items:
            known[service] = namespace or known.get(service, "")

    def _client(self, row: Row, service: str, messaging: bool, expires: float) -> None:
        start, end = row[START], row[END]
        seconds = (end - start) / 1e9 if end > start else 0.0
        failed = row[CODE] == ERROR
        key = row[TRACE] + row[SPAN]
        half = self.store.take(key)
        if half is not None and half.sides & SERVER:
            # The server half waited: the pair is complete, no attribute needs reading.
            half.sides |= CLIENT
            half.client, half.client_s, half.failed = service, seconds, half.failed or failed
            self._complete(half, messaging)
            return
        found = pick(row[PROTO].attributes, self._keys.wanted)
        weight = self._weight(row, found)
        peer = ""
        if found is not None:
            failed = failed or self._http_failed(found)
            if any(found[slot] is not None for slot in self._keys.db):
                edge = (service, self._database(found), DATABASE)
                self.tallies.record(edge, failed, seconds, seconds, weight)
                return
            peer = first_text(found, self._keys.peer)
        half = half or Half(weight, expires)
        half.sides |= CLIENT
        half.client, half.client_s, half.peer = service, seconds, peer
        half.failed, half.weight = half.failed or failed, weight
        self._wait(key, half, messaging)

    def _server(self, row: Row, service: str, messaging: bool, expires: float) -> None:
        start, end = row[START], row[END]
        seconds = (end - start) / 1e9 if end > start else 0.0
        failed = row[CODE] == ERROR
        parent = row[PARENT]
        key = row[TRACE] + parent
        half = self.store.take(key)
        if half is not None and half.sides & CLIENT:
            half.sides |= SERVER
            half.server, half.server_s, half.failed = service, seconds, half.failed or failed
            self._complete(half, messaging)
            return
        found = pick(row[PROTO].attributes, self._keys.wanted) if self._scan_servers else None
        half = half or Half(0.0, expires)
        half.weight = self._weight(row, found)
        if found is not None:
            failed = failed or self._http_failed(found)
        half.sides |= SERVER
        half.server, half.server_s, half.root = service, seconds, not parent
        half.failed = half.failed or failed
        self._wait(key, half, messaging)

    def _complete(self, half: Half, messaging: bool) -> None:
        edge = (half.client, half.server, MESSAGING if messaging else half.conn)
        self.tallies.record(edge, half.failed, half.server_s, half.client_s, half.weight)

    def _wait(self, key: bytes, half: Half, messaging: bool) -> None:
        if messaging:
            half.conn = MESSAGING
        if not self.store.put(key, half):
            tallies = self.tallies
            tallies.count(tallies.dropped, (half.client, half.server, half.conn))

    def _weight(self, row: Row, found: Found | None) -> float:
        slot = self._keys.multiplier
        if found is not None and slot >= 0 and (value := found[slot]) is not None:
            return ratio_weight(value.double_value or float(value.int_value))
        return self._weigher.weight(row[STATE], ()) if row[STATE] else 1.0

    def _http_failed(self, found: Found) -> bool:
        for slot in self._keys.status:
            value = found[slot]
            if value is not None:
                return (value.int_value or _int(text(value))) >= 500
        return False

    def _database(self, found: Found) -> str:
        """Tempo's order: peer.service, server.address, network.peer.address[:port], db.*."""
        keys = self._keys
        name = first_text(found, keys.name)
        if name:
            return name
        address = first_text(found, [keys.address])
        if address:
            port = first_text(found, [keys.port])
            return f"{address}:{port}" if port else address
        return first_text(found, keys.db)

    def expire(self, now: float) -> None:
        """Ends the wait of halves due by ``now``: virtual-node edges or unpaired counts."""
        for half in self.store.expire(now):
            self.settle(half)

    def settle(self, half: Half) -> None:
        """Counts a half that will never be paired (Tempo's onExpire)."""
        tallies = self.tallies
        if half.sides == SERVER and half.root:
            edge = (UNKNOWN_CALLER, half.server, VIRTUAL)
            tallies.record(edge, half.failed, half.server_s, half.server_s, half.weight)
        elif half.sides == CLIENT and half.peer:
            edge = (half.client, half.peer, VIRTUAL)
            tallies.record(edge, half.failed, half.client_s, half.client_s, half.weight)
        else:
            tallies.count(tallies.unpaired, (half.client, half.server, half.conn))


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


def _seconds(start_ns: int, end_ns: int) -> float:
    return (end_ns - start_ns) / 1e9 if end_ns > start_ns else 0.0
