"""The bad-input corpus (reliability anchors 8.1): every file is refused, however it arrives.

Each ``corpus/NAME.http`` holds exact bytes; ``corpus/expected.json`` maps NAME to the status
the proxy must answer with before closing. A refused request must never reach an upstream: no
head is delivered for it. Chunked-body cases (``chunk-*``) have a valid head that a streaming
proxy forwards before the bad framing arrives; for those the request must never *end*, so the
upstream exchange is reset rather than completed and nothing after the bad bytes is parsed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.sidecar.http1.helpers import (
    Outcome,
    RequestFields,
    bytewise,
    try_decode,
)

CORPUS = Path(__file__).parent / "corpus"
EXPECTED: dict[str, int] = json.loads((CORPUS / "expected.json").read_text())
BODY_STAGE_PREFIX = "chunk-"


def corpus_bytes(name: str) -> bytes:
    return (CORPUS / f"{name}.http").read_bytes()


def test_every_corpus_file_has_an_expected_status() -> None:
    files = {path.stem for path in CORPUS.glob("*.http")}
    assert files == set(EXPECTED)


def assert_refused(outcome: Outcome, name: str) -> None:
    assert outcome.error is not None, f"{name} was accepted: {outcome.events}"
    assert outcome.error.status == EXPECTED[name], outcome.error.reason
    assert ("end", None) not in outcome.events
    heads = [arg for _, arg in outcome.events if isinstance(arg, RequestFields)]
    if name.startswith(BODY_STAGE_PREFIX):
        assert len(heads) == 1 and heads[0].chunked
    else:
        assert heads == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_is_refused_whole(name: str) -> None:
    assert_refused(try_decode([corpus_bytes(name)]), name)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_is_refused_byte_at_a_time(name: str) -> None:
    assert_refused(try_decode(bytewise(corpus_bytes(name))), name)
