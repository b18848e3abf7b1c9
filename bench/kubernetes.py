"""Kubernetes mode: what one pod change costs the control plane as the mesh grows.

``python -m bench.kubernetes [--services 200 --pods-per-service 10]`` builds the Services, Pods
and EndpointSlices of a mesh in memory, syncs them into the registry as after a list, then times
a pod status change (no endpoint change: the common event) and a readiness flip, each followed by
the registry sync, as the watch handler does. Reported as milliseconds per event, median of
``--events`` events; a full remake of every instance is shown beside them as the baseline the
per-slice cache avoids.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from controlplane.kubernetes.endpoints import EndpointIndex
from controlplane.kubernetes.registry import KubernetesRegistry


def mesh(services: int, per: int) -> dict[str, list[dict[str, Any]]]:
    """The objects of ``services`` Services with ``per`` meshed pods each."""
    made: dict[str, list[dict[str, Any]]] = {"Service": [], "Pod": [], "EndpointSlice": []}
    for s in range(services):
        made["Service"].append({"metadata": {"name": f"svc{s}", "namespace": "bench"}})
        endpoints = []
        for p in range(per):
            name = f"svc{s}-{p}"
            spec = {"serviceAccountName": f"svc{s}", "containers": [{"name": "glassmesh-proxy"}]}
            made["Pod"].append({"metadata": {"name": name, "namespace": "bench"}, "spec": spec})
            target = {"kind": "Pod", "name": name}
            address = f"10.{s // 250}.{s % 250}.{p}"
            endpoints.append({"addresses": [address], "conditions": {"ready": True},
                              "targetRef": target})  # fmt: skip
        labels = {"kubernetes.io/service-name": f"svc{s}"}
        meta = {"name": f"svc{s}-x", "namespace": "bench", "labels": labels}
        made["EndpointSlice"].append({"metadata": meta, "endpoints": endpoints})
    return made


def timed(events: int, step: Any) -> float:
    """Median milliseconds of ``step(i)`` over ``events`` calls."""
    samples = []
    for i in range(events):
        start = time.perf_counter()
        step(i)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--pods-per-service", type=int, default=10)
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    objects = mesh(args.services, args.pods_per_service)
    index, registry = EndpointIndex("cluster.local"), KubernetesRegistry(time.time)
    start = time.perf_counter()
    for kind in ("Service", "Pod", "EndpointSlice"):
        index.replace(kind, objects[kind])
    registry.sync(index.instances())
    listed_ms = (time.perf_counter() - start) * 1000
    pods, slices = objects["Pod"], objects["EndpointSlice"]

    def status_change(i: int) -> None:
        index.apply("Pod", "MODIFIED", pods[i % len(pods)])
        registry.sync(index.instances())

    def readiness_flip(i: int) -> None:
        endpoint_slice = slices[i % len(slices)]
        for endpoint in endpoint_slice["endpoints"][:1]:
            endpoint["conditions"]["ready"] = not endpoint["conditions"]["ready"]
        index.apply("EndpointSlice", "MODIFIED", endpoint_slice)
        registry.sync(index.instances())

    def full_remake(i: int) -> None:
        index.replace("Pod", pods)  # every slice made again, as without the cache
        registry.sync(index.instances())

    endpoints = len(pods)
    print(f"{args.services} services, {endpoints} endpoints; list + first sync {listed_ms:.0f} ms")
    print(f"pod status change:  {timed(args.events, status_change):7.2f} ms/event (median)")
    print(f"readiness flip:     {timed(args.events, readiness_flip):7.2f} ms/event (median)")
    print(f"remake everything:  {timed(max(5, args.events // 20), full_remake):7.2f} ms/event")


if __name__ == "__main__":
    main()
