"""Trace context parsing and writing: W3C and B3, valid and not."""

from __future__ import annotations

import pytest

from sidecar.telemetry import context

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


def parse(**fields: str) -> context.Incoming:
    names = [k.replace("_", "-").encode() for k in fields]
    return context.parse(names, [v.encode() for v in fields.values()])


def test_w3c_traceparent_with_tracestate() -> None:
    found = parse(traceparent=f"00-{TRACE}-{PARENT}-01", tracestate="a=1,b=2")
    assert (found.trace_id, found.parent_id) == (TRACE.encode(), PARENT.encode())
    assert (found.sampled, found.style, found.tracestate) == (1, context.W3C, b"a=1,b=2")


@pytest.mark.parametrize(
    "value",
    [
        f"00-{'0' * 32}-{PARENT}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent
        f"ff-{TRACE}-{PARENT}-01",  # forbidden version
        f"00-{TRACE}-{PARENT}-01-extra",  # version 00 has exactly four parts
        f"00-{TRACE[:-1]}-{PARENT}-01",  # short id
        f"00-{TRACE}-{PARENT}-zz",  # flags not hex
    ],
)
def test_an_invalid_traceparent_is_no_context(value: str) -> None:
    assert parse(traceparent=value).trace_id == b""


def test_a_future_version_may_carry_more_fields() -> None:
    assert parse(traceparent=f"01-{TRACE}-{PARENT}-00-what-next").trace_id == TRACE.encode()


def test_b3_single_forms() -> None:
    full = parse(b3=f"{TRACE}-{PARENT}-1-{'1' * 16}")
    assert (full.trace_id, full.parent_id, full.sampled, full.style) == (
        TRACE.encode(), PARENT.encode(), 1, context.B3_SINGLE)  # fmt: skip
    short = parse(b3=f"{TRACE[16:]}-{PARENT}")  # 64-bit trace id, no decision
    assert short.trace_id == f"{'0' * 16}{TRACE[16:]}".encode()
    assert short.sampled == context.SAMPLED_UNKNOWN
    deny = parse(b3="0")
    assert (deny.trace_id, deny.sampled) == (b"", 0)
    assert parse(b3=f"{TRACE}-{PARENT}-d").sampled == 1  # debug


def test_b3_multi_with_debug_flag() -> None:
    found = parse(x_b3_traceid=TRACE, x_b3_spanid=PARENT, x_b3_sampled="0", x_b3_flags="1")
    assert (found.trace_id, found.sampled, found.style) == (TRACE.encode(), 1, context.B3_MULTI)
    assert parse(x_b3_traceid=TRACE).trace_id == b""  # a trace id without a span id is no parent


def test_force_header() -> None:
    assert parse(x_glassmesh_trace="1").forced
    assert not parse(x_glassmesh_trace="0").forced


def test_lines_in_each_style() -> None:
    trace, span = TRACE.encode(), PARENT.encode()
    w3c = context.lines(trace, span, True, context.W3C, b"a=1")
    assert w3c == [f"traceparent: 00-{TRACE}-{PARENT}-01\r\n".encode(), b"tracestate: a=1\r\n"]
    single = context.lines(trace, span, False, context.B3_SINGLE, b"")
    assert single[1] == f"b3: {TRACE}-{PARENT}-0\r\n".encode()
    multi = context.lines(trace, span, True, context.B3_MULTI, b"")
    assert multi[1] == (
        f"x-b3-traceid: {TRACE}\r\nx-b3-spanid: {PARENT}\r\nx-b3-sampled: 1\r\n".encode()
    )


def test_uppercase_b3_ids_are_read_and_sent_on_in_lowercase() -> None:
    found = parse(b3=f"{TRACE.upper()}-{PARENT.upper()}-1")
    assert (found.trace_id, found.parent_id) == (TRACE.encode(), PARENT.encode())


def test_new_ids_are_random_hex_of_the_right_size_and_never_repeat() -> None:
    ids = context.IdSource()
    traces = [ids.trace_id() for _ in range(1000)]  # several refills of the pool
    spans = [ids.span_id() for _ in range(1000)]
    assert {len(t) for t in traces} == {32} and {len(s) for s in spans} == {16}
    assert len(set(traces)) == 1000 and len(set(spans)) == 1000
    assert all(int(t, 16) and int(s, 16) for t, s in zip(traces, spans, strict=True))
    assert all(t == t.lower() for t in traces)
