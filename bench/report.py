"""One run's results: per-target numbers, deltas over direct, ratios and the JSON document."""

from __future__ import annotations

import dataclasses
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TARGETS = ("direct", "envoy", "glassmesh", "policies")
LATENCY_KEYS = ("p50_ms", "p90_ms", "p99_ms")
# Ratio rows of the report: (name, key in the target's JSON). Lower is better except for rps.
RATIO_KEYS = (
    ("rps", "rps"),
    ("added_p50", "added_p50_ms"),
    ("added_p90", "added_p90_ms"),
    ("added_p99", "added_p99_ms"),
    ("rss_idle", "rss_idle_mb"),
    ("rss", "rss_mb"),
)


@dataclass
class TargetResult:
    """What was measured for one target.

    A target that could not be measured (``fail``) has None numbers; one measured with errors
    (``flag``) keeps its numbers for inspection but is not ``ok`` and enters no ratio.
    """

    name: str
    ok: bool = True
    error: str | None = None
    rps: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    rss_idle_mb: float | None = None
    rss_mb: float | None = None
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)
    wrk: dict[str, Any] = field(default_factory=dict)
    open_loop: dict[str, Any] = field(default_factory=dict)
    rss_soak: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    rounds: list[dict[str, Any]] = field(default_factory=list)

    def flag(self, problem: str) -> None:
        """Record a problem seen while measuring; the target is no longer ``ok``."""
        self.problems.append(problem)
        self.ok = False
        self.error = "; ".join(self.problems)

    def fail(self, error: str) -> None:
        """The target could not be measured: flag ``error`` and drop the headline numbers."""
        self.flag(error)
        self.rps = self.p50_ms = self.p90_ms = self.p99_ms = None


ROUND_KEYS = ("rps", *LATENCY_KEYS, "rss_idle_mb", "rss_mb")


def median_or_none(values: list[float | None]) -> float | None:
    """The median of the values that are not None, or None if there is none."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def merge_rounds(rounds: list[TargetResult]) -> TargetResult:
    """One target measured in several rounds, as one result: the median of each headline
    number over the rounds that were measured cleanly (this machine is shared and one round can
    land in a noisy moment), the largest RSS, every round's numbers in ``rounds``, and every
    problem of every round."""
    merged = dataclasses.replace(rounds[-1], problems=[], ok=True, error=None)
    merged.rounds = [{key: getattr(r, key) for key in ROUND_KEYS} | {"ok": r.ok} for r in rounds]
    for r in rounds:
        for problem in r.problems:
            merged.flag(problem)
    clean = [r for r in rounds if r.ok] or rounds
    for key in ("rps", *LATENCY_KEYS):
        setattr(merged, key, median_or_none([getattr(r, key) for r in clean]))
    merged.rss_idle_mb = max_or_none([r.rss_idle_mb for r in rounds])
    merged.rss_mb = max_or_none([r.rss_mb for r in rounds])
    merged.rss_soak = next((r.rss_soak for r in rounds if r.rss_soak is not None), None)
    return merged


def max_or_none(values: list[float | None]) -> float | None:
    """The largest value that is not None, or None if there is none."""
    present = [v for v in values if v is not None]
    return max(present) if present else None


def delta(value: float | None, base: float | None) -> float | None:
    """``value - base``, or None when either is missing."""
    return None if value is None or base is None else value - base


def ratio(num: float | None, den: float | None) -> float | None:
    """``num / den``, or None when either is missing or ``den`` is not positive."""
    if num is None or den is None or den <= 0:
        return None
    return num / den


def growth_pct(before: float | None, after: float | None) -> float | None:
    """Growth from ``before`` to ``after`` in percent of ``before``."""
    r = ratio(after, before)
    return None if r is None else (r - 1.0) * 100.0


def target_json(result: TargetResult, direct: TargetResult | None) -> dict[str, Any]:
    """One target's JSON object: its fields plus ``added_pXX_ms`` over the direct baseline."""
    doc = dataclasses.asdict(result)
    for key in LATENCY_KEYS:
        base = getattr(direct, key) if direct is not None and direct.ok else None
        doc[f"added_{key}"] = delta(getattr(result, key), base)
    return doc


def compute_ratios(targets: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """glassmesh / envoy, and policies / glassmesh (what the policies cost), for throughput,
    added latency and RSS (None where not measurable)."""
    out: dict[str, float | None] = {}
    for prefix, num, den in (("glassmesh_envoy", "glassmesh", "envoy"),
                             ("policies_glassmesh", "policies", "glassmesh")):  # fmt: skip
        ours, ref = targets.get(num, {}), targets.get(den, {})
        if not (ours.get("ok") and ref.get("ok")):
            ours = ref = {}
        out |= {f"{prefix}_{name}": ratio(ours.get(key), ref.get(key)) for name, key in RATIO_KEYS}
    return out


def build_document(results: list[TargetResult], meta: dict[str, Any]) -> dict[str, Any]:
    """The whole JSON document: one key per target, ``ratios`` and ``meta``."""
    direct = next((r for r in results if r.name == "direct"), None)
    targets = {r.name: target_json(r, direct) for r in results}
    return {**targets, "ratios": compute_ratios(targets), "meta": meta}


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write ``document`` to ``path`` (creating its directory), indented, keys in order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
