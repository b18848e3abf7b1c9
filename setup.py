"""Build hook: compiles the sidecar's request path to C with mypyc (ADR 0003).

Everything else stays interpreted. Set GLASSMESH_PURE_PYTHON=1 to build without compiling, e.g.
to step through the data path in a debugger.
"""

from __future__ import annotations

import os

from setuptools import setup

# The modules every request runs through; all are mypy --strict clean, which mypyc requires.
HOT_PATH = [
    "sidecar/filters.py",
    "sidecar/http1/codec.py",
    "sidecar/http1/encode.py",
    "sidecar/http1/errors.py",
    "sidecar/http1/fields.py",
    "sidecar/http1/head.py",
    "sidecar/inbound.py",
    "sidecar/lb/random_pick.py",
    "sidecar/lb/ring_hash.py",
    "sidecar/lb/round_robin.py",
    "sidecar/local_reply.py",
    "sidecar/mirror.py",
    "sidecar/outbound.py",
    "sidecar/pathnorm.py",
    "sidecar/retry.py",
    "sidecar/routing.py",
    "sidecar/stats.py",
    "sidecar/telemetry/accesslog.py",
    "sidecar/telemetry/context.py",
    "sidecar/telemetry/hooks.py",
    "sidecar/telemetry/metrics.py",
    "sidecar/transport/downstream.py",
    "sidecar/transport/listener.py",
    "sidecar/transport/outlier.py",
    "sidecar/transport/pool.py",
    "sidecar/transport/upstream.py",
]

# The collector's per-span loops (ingest): reading spans, the segment summary, both connectors,
# and the per-trace analysis (bench.analysis: 500 -> 260 us a trace when compiled).
COLLECTOR_HOT = [
    "collector/analysis/critical.py",
    "collector/analysis/facts.py",
    "collector/analysis/intake.py",
    "collector/analysis/naming.py",
    "collector/analysis/patterns.py",
    "collector/analysis/retime.py",
    "collector/analysis/tree.py",
    "collector/connectors/attributes.py",
    "collector/connectors/edgestore.py",
    "collector/connectors/graphtally.py",
    "collector/connectors/pairing.py",
    "collector/connectors/spanmetrics.py",
    "collector/connectors/weights.py",
    "collector/otlp/spanbatch.py",
    "collector/storage/summary.py",
]


def _extensions() -> list[object]:
    if os.environ.get("GLASSMESH_PURE_PYTHON"):
        return []
    from mypyc.build import mypycify

    # The shared runtime module lives inside the sidecar package under a fixed name: a top-level
    # one with a hash of HOT_PATH in its name would be missing from an editable install's module
    # map as soon as HOT_PATH changed.
    return list(mypycify(HOT_PATH, opt_level="3", group_name="sidecar._hotpath")) + list(
        mypycify(COLLECTOR_HOT, opt_level="3", group_name="collector._hotpath")
    )


setup(ext_modules=_extensions())
