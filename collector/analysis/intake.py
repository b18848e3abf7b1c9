"""A read span batch as the analysis keeps it: span tuples grouped by trace (one pass)."""

from __future__ import annotations

from collections.abc import Sequence

from collector.analysis.naming import METHODS, operation
from collector.analysis.tree import SpanTuple
from collector.otlp.spanbatch import CODE, END, KIND, NAME, PARENT, PROTO, SPAN, START, TRACE, Group

ERROR = 2  # OTLP Status.STATUS_CODE_ERROR
NO_SERVICE = "unknown_service"


def by_trace(groups: Sequence[Group]) -> dict[bytes, list[SpanTuple]]:
    """Every span of ``groups`` as a SpanTuple, by trace id; bare HTTP-method names get their
    route or path (see naming)."""
    found: dict[bytes, list[SpanTuple]] = {}
    for group in groups:
        service = group.service or NO_SERVICE
        for row in group.rows:
            name = row[NAME]
            if name in METHODS:
                name = operation(name, row[PROTO].attributes)
            span: SpanTuple = (row[SPAN], row[PARENT], service, name, row[KIND], row[START],
                               row[END], row[CODE] == ERROR)  # fmt: skip
            spans = found.get(row[TRACE])
            if spans is None:
                found[row[TRACE]] = [span]
            else:
                spans.append(span)
    return found
