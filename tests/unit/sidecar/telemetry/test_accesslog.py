"""Access log lines as the exporter writes them: Istio's text format as bytes, every line of a
batch in order in one write, the OTLP copy only when asked for."""

from __future__ import annotations

import io
import sys

import pytest

from sidecar.http1.head import RequestHead
from sidecar.telemetry import exporter
from sidecar.telemetry.accesslog import TextLines, utf8
from sidecar.telemetry.hooks import Exchange
from sidecar.telemetry.service import Telemetry
from tests.unit.sidecar.telemetry.test_service import config

WALL = 1_790_000_000.0  # 2026-09-21T14:13:20Z


def exchange(telemetry: Telemetry, path: bytes, status: int = 200, start: float = 1.0) -> Exchange:
    head = RequestHead(b"GET", path, True, [b"user-agent", b"x-request-id"], [b"ua/1", b"r-1"])
    ex = Exchange(telemetry.outbound, head, start, path, b"cart:9080")
    ex.end, ex.status, ex.rx, ex.tx = start + 0.0125, status, 3, 88
    return ex


def test_a_text_line_has_istio_fields_in_order() -> None:
    telemetry = Telemetry(config())
    line = TextLines().line(exchange(telemetry, b"/cart?id=1"), WALL - 1.0)
    assert line == (
        b'[2026-09-21T14:13:20.000Z] "GET /cart?id=1 HTTP/1.1" 200 - - - "-" 3 88 12 - "-" '
        b'"ua/1" "r-1" "cart:9080" "-" - - - - - -\n'
    )


def test_lines_of_the_next_second_get_its_timestamp() -> None:
    telemetry = Telemetry(config())
    lines = TextLines()
    first = lines.line(exchange(telemetry, b"/", start=1.999), WALL - 1.0)
    second = lines.line(exchange(telemetry, b"/", start=2.0005), WALL - 1.0)
    assert first.startswith(b"[2026-09-21T14:13:20.999Z]")
    assert second.startswith(b"[2026-09-21T14:13:21.000Z]")


def test_header_bytes_past_ascii_are_written_as_utf8() -> None:
    assert utf8(b"caf\xe9") == "café".encode()
    assert utf8(b"plain") == b"plain"


def test_a_batch_is_one_write_with_every_line_in_order() -> None:
    writes: list[bytes] = []
    telemetry = Telemetry(config(max_export_batch=100), write=writes.append)
    for number in range(250):
        telemetry.sink.put(exchange(telemetry, b"/%d" % number))
    telemetry.exporter.cycle()
    assert len(writes) == 3  # batches of at most max_export_batch exchanges
    paths = [line.split(b" ")[2] for line in b"".join(writes).splitlines()]
    assert paths == [b"/%d" % number for number in range(250)]


def test_log_records_are_built_only_when_the_otlp_copy_is_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    posted: dict[bool, list[str]] = {}
    for enabled in (False, True):
        telemetry = Telemetry(
            config(otlp_endpoint="http://127.0.0.1:9", access_log_otlp=enabled),
            write=lambda _: None,
        )
        signals = posted[enabled] = []
        monkeypatch.setattr(
            telemetry.exporter, "_post", lambda signal, count, body, out=signals: out.append(signal)
        )
        telemetry.sink.put(exchange(telemetry, b"/"))
        telemetry.exporter.cycle()
    assert posted == {False: [], True: ["logs"]}


def test_stdout_gets_the_bytes_after_text_already_written(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", stream)
    stream.write("before\n")
    exporter._stdout(b"line 1\nline 2\n")
    assert raw.getvalue() == b"before\nline 1\nline 2\n"
