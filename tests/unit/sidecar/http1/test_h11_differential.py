"""Differential oracle: our accept/reject verdict against h11's on the same bytes.

Any disagreement is a finding, unless it is a deliberate strictness listed (with its reason) in
STRICTER_THAN_H11: inputs h11 lets through that we refuse. A listed case must still disagree
the listed way, so the list cannot go stale. LAXER_THAN_H11 holds the few valid messages
h11 refuses where the RFC asks a server to be tolerant.
"""

from __future__ import annotations

import h11
import pytest

from tests.unit.sidecar.http1.helpers import try_decode
from tests.unit.sidecar.http1.messages import VALID
from tests.unit.sidecar.http1.test_smuggling_corpus import EXPECTED, corpus_bytes

STRICTER_THAN_H11: dict[str, str] = {
    "bare-cr-end-of-head": "h11 only looks for CRLF/LF line ends and waits; a bare CR is a 400",
    "chunk-ext-nul": "h11 skips chunk extensions unparsed; NUL there is a desync vector",
    "chunk-size-17-hex-digits": "h11 takes up to 20 hex digits; we refuse sizes past 64 bits",
    "cl-2pow64": "h11 has unbounded ints; we refuse lengths past 2^63",
    "cl-5-twice": "RFC 9110 8.6 allows refusing duplicates; llhttp and we refuse, never merge",
    "cl-5-three-times": "RFC 9110 8.6 allows refusing duplicates; llhttp and we refuse",
    "cl-list-5-5": "a list-valued Content-Length is refused rather than collapsed",
    "cl-then-te": "h11 lets TE override CL (RFC 9112 6.3); we refuse both, as Envoy does",
    "te-then-cl": "h11 lets TE override CL (RFC 9112 6.3); we refuse both, as Envoy does",
    "host-space": "h11 does not check Host syntax; RFC 9112 3.2 says invalid Host is a 400",
    "host-userinfo": "h11 does not check Host syntax; userinfo in Host confuses routing",
    "lf-only-head": "h11 accepts bare-LF line ends (RFC MAY); we refuse them inbound",
    "method-lowercase": "h11 allows any token method; methods are case-sensitive, get is not GET",
    "obs-fold": "h11 unfolds obs-fold; RFC 9112 5.2 lets us 400 instead, avoiding value confusion",
    "target-escaped-nul": "h11 does not inspect the target; %00 truncates paths in upstreams",
    "target-fragment": "h11 does not inspect the target; a fragment must never be sent",
    "te-http10": "h11 honours TE on HTTP/1.0; RFC 9112 6.1 says its framing is faulty",
    "value-bare-lf": "h11 treats a bare LF as a line end, making a second header; we refuse it",
    "version-1-2": "h11 accepts any 1.x version; we speak only HTTP/1.0 and 1.1",
    "version-2-0": "h11 accepts HTTP/2.0 in an HTTP/1 request line; we refuse it",
}

LAXER_THAN_H11: dict[str, str] = {
    "leading-crlf": "RFC 9112 2.2: a server SHOULD ignore a CRLF before the request line",
}


def h11_accepts(data: bytes) -> bool:
    """True if h11, as a server, raises no error on ``data`` (answering each request)."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    try:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                return True
            if event is h11.PAUSED:
                if conn.our_state is h11.SEND_RESPONSE and conn.their_state is h11.DONE:
                    conn.send(h11.Response(status_code=200, headers=[("content-length", "0")]))
                    conn.send(h11.EndOfMessage())
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return True
                conn.start_next_cycle()
    except h11.RemoteProtocolError:
        return False


def we_accept(data: bytes) -> bool:
    return try_decode([data]).error is None


CASES = {
    **{f"corpus/{name}": corpus_bytes(name) for name in EXPECTED},
    **{f"valid/{name}": data for name, data in VALID.items()},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_verdict_matches_h11(case: str) -> None:
    data = CASES[case]
    ours, theirs = we_accept(data), h11_accepts(data)
    name = case.split("/", 1)[1]
    if name in STRICTER_THAN_H11:
        assert (ours, theirs) == (False, True), f"listed as stricter: {STRICTER_THAN_H11[name]}"
    elif name in LAXER_THAN_H11:
        assert (ours, theirs) == (True, False), f"listed as laxer: {LAXER_THAN_H11[name]}"
    else:
        assert ours == theirs, f"we {'accept' if ours else 'reject'}, h11 does not"


def test_every_listed_disagreement_is_a_case() -> None:
    assert set(STRICTER_THAN_H11) <= set(EXPECTED)
    assert set(LAXER_THAN_H11) <= set(VALID)
