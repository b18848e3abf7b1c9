"""Kubernetes mode end to end: the real kubernetes_asyncio client, through a kubeconfig, against
an API server that speaks the REST wire format (tests/integration/kube_apiserver.py).

What a user notices: a pod that becomes ready shows up in ``glassmesh get endpoints``, and a deleted
pod leaves at once; a sidecar holding a projected service-account token gets its certificate (a
token for another audience gets a 401 saying why); a bad CR is refused with an Event naming the
field while the last good version stays in force; a watch whose resourceVersion was compacted
away lists again and catches up.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509

from controlplane.api.sidecar import ClusterConfig
from controlplane.api.snapshot import Ack, Registration, Snapshot, decode_server, encode
from controlplane.kubernetes import KubernetesSettings
from controlplane.server import ControlPlane, ControlPlaneSettings
from sidecar.agent import AgentSettings, CertificateAgent, CertificateError, HttpsRequester
from tests.integration.kube_apiserver import FakeApiServer
from tests.integration.test_controlplane_ca import csr_pem

ROOT = Path(__file__).resolve().parents[2]
SERVICES = "/api/v1/services"
PODS = "/api/v1/pods"
SLICES = "/apis/discovery.k8s.io/v1/endpointslices"
FAULTS = "/apis/glassmesh.io/v1alpha1/faults"
POLICIES = "/apis/glassmesh.io/v1alpha1/trafficpolicies"
ROUTES = "/apis/gateway.networking.k8s.io/v1/httproutes"
WEB_ID = "spiffe://cluster.local/ns/shop/sa/web"


class Plane:
    """A control plane in Kubernetes mode and how to ask it things."""

    def __init__(self, control: ControlPlane, url: str) -> None:
        self.control, self.url = control, url
        data = control.settings.data_dir
        self.ca_file = data / "ca" / "ca.pem"
        self.token_file = data / "admin-token"

    async def get(self, path: str) -> Any:
        headers = {"Authorization": f"Bearer {self.token_file.read_text().strip()}"}
        context = ssl.create_default_context(cafile=self.ca_file)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.url}{path}", headers=headers, ssl=context) as resp,
        ):
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def until(self, path: str, check: Callable[[Any], bool]) -> Any:
        """Polls ``path`` until ``check`` holds (at most 10 s)."""
        for _ in range(200):
            body = await self.get(path)
            if check(body):
                return body
            await asyncio.sleep(0.05)
        raise AssertionError(f"{path} never satisfied the check; last: {body}")

    async def cli(self, *args: str) -> str:
        """Runs ``glassmesh <args>`` against this control plane; returns its stdout."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "controlplane.cli", *args, "--server", self.url,
            "--token-file", str(self.token_file), "--ca-file", str(self.ca_file),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        return out.decode()


@pytest.fixture
async def apiserver(tmp_path: Path) -> AsyncIterator[FakeApiServer]:
    server = FakeApiServer(tmp_path / "apiserver")
    server.directory.mkdir()
    await server.start()
    yield server
    await server.shutdown()


@pytest.fixture
async def plane(tmp_path: Path, apiserver: FakeApiServer) -> AsyncIterator[Plane]:
    kubernetes = KubernetesSettings(
        kubeconfig=apiserver.kubeconfig(tmp_path / "kubeconfig"),
        watch_timeout_s=30,
        backoff_initial_s=0.05,
        backoff_max_s=0.5,
    )
    settings = ControlPlaneSettings(
        data_dir=tmp_path / "data", port=0, kubernetes=kubernetes, metrics_listen=("127.0.0.1", 0)
    )
    control = ControlPlane(settings)
    url = await control.start()
    yield Plane(control, url)
    await control.shutdown()


def pod(name: str, account: str = "web", **annotations: str) -> dict[str, Any]:
    """A pod the injector has given a sidecar (a native sidecar init container)."""
    return {
        "metadata": {
            "name": name,
            "namespace": "shop",
            "labels": {"app": "web", "version": "v1"},
            "annotations": annotations,
        },
        "spec": {
            "serviceAccountName": account,
            "initContainers": [{"name": "glassmesh-proxy", "restartPolicy": "Always"}],
            "containers": [{"name": "web"}],
        },
        "status": {"phase": "Running", "podIP": "10.1.0.5"},
    }


def endpoint_slice(ready: bool | None, *pods: tuple[str, str]) -> dict[str, Any]:
    """The EndpointSlice the endpoints controller keeps for Service ``web``."""
    conditions = {} if ready is None else {"ready": ready, "serving": ready, "terminating": False}
    return {
        "metadata": {
            "name": "web-x8k2p",
            "namespace": "shop",
            "labels": {"kubernetes.io/service-name": "web"},
        },
        "addressType": "IPv4",
        "endpoints": [
            {
                "addresses": [ip],
                "conditions": conditions,
                "targetRef": {"kind": "Pod", "namespace": "shop", "name": name},
            }
            for name, ip in pods
        ],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


SERVICE = {"metadata": {"name": "web", "namespace": "shop"}, "spec": {"ports": [{"port": 8080}]}}


def web_endpoints(body: Any) -> list[dict[str, Any]]:
    return [e for e in body["items"] if e["service"] == "web"]


async def test_a_pod_that_becomes_ready_shows_up_and_a_deleted_one_leaves_at_once(
    apiserver: FakeApiServer, plane: Plane
) -> None:
    await apiserver.put(SERVICES, SERVICE)
    await apiserver.put(PODS, pod("web-1", **{"sidecar.glassmesh.io/inbound-port": "15106"}))
    await apiserver.put(PODS, pod("web-2"))
    await apiserver.put(SLICES, endpoint_slice(False, ("web-1", "10.1.0.5"), ("web-2", "10.1.0.6")))
    body = await plane.until("/api/v1/endpoints", lambda b: len(web_endpoints(b)) == 2)
    assert [e["ready"] for e in body["items"]] == [False, False]

    await apiserver.put(SLICES, endpoint_slice(True, ("web-1", "10.1.0.5"), ("web-2", "10.1.0.6")))
    await plane.until("/api/v1/endpoints", lambda b: all(e["ready"] for e in web_endpoints(b)))
    table = await plane.cli("get", "endpoints", "web", "-n", "shop")
    assert "10.1.0.5:15106" in table  # the sidecar's inbound port, from the pod's annotation
    assert "10.1.0.6:15006" in table  # the default one
    assert all(row.endswith("   -") for row in table.splitlines()[1:])  # no lease to run out
    listed = json.loads(await plane.cli("get", "endpoints", "-o", "json"))
    assert {(e["address"], e["identity"], e["ready"]) for e in listed} == {
        ("10.1.0.5", WEB_ID, True),
        ("10.1.0.6", WEB_ID, True),
    }
    assert all(e["labels"] == {"app": "web", "version": "v1"} for e in listed)

    # The pod is deleted; the EndpointSlice still lists it (its controller has not caught up).
    await apiserver.delete(PODS, "shop", "web-1")
    body = await plane.until("/api/v1/endpoints", lambda b: len(web_endpoints(b)) == 1)
    assert [e["address"] for e in body["items"]] == ["10.1.0.6"]

    await apiserver.delete(SERVICES, "shop", "web")  # no Service, no endpoints
    await plane.until("/api/v1/endpoints", lambda b: web_endpoints(b) == [])


def agent_on(token_file: Path, plane: Plane) -> CertificateAgent:
    """The web workload's certificate agent, presenting the token in ``token_file``."""
    settings = AgentSettings(url=plane.url, identity=WEB_ID, token_file=token_file)
    return CertificateAgent(settings, lambda issued: None, HttpsRequester(plane.url, plane.ca_file))


async def test_a_sidecar_with_a_projected_token_gets_its_certificate(
    tmp_path: Path, apiserver: FakeApiServer, plane: Plane
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(apiserver.mint("shop", "web", ["glassmesh"]))
    agent = agent_on(token_file, plane)
    issued = await agent.renew()
    leaf = x509.load_pem_x509_certificates(issued.chain_pem)[0]
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [WEB_ID]
    assert any(r.endswith("/tokenreviews") for r in apiserver.requests)

    # The pod's default API token (audience: the API server) is not a glassmesh credential.
    token_file.write_text(apiserver.mint("shop", "web", ["https://kubernetes.default.svc"]))
    other = agent_on(token_file, plane)
    with pytest.raises(CertificateError) as refused:
        await other.renew()
    assert refused.value.status == 401
    # The sidecar's error (what its log and exit message show) carries the TokenReview's reason.
    assert "token audiences" in str(refused.value)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("other-audience", "not authenticate the token: token audiences"),
        ("unknown", "not authenticate the token: invalid bearer token"),
        ("garbage", "not a service-account token"),
    ],
)
async def test_a_rejected_token_gets_401_with_the_reason(
    apiserver: FakeApiServer, plane: Plane, token: str, reason: str
) -> None:
    tokens = {
        "other-audience": apiserver.mint("shop", "web", ["vault"]),
        "unknown": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
        "garbage": "not a token",
    }
    context = ssl.create_default_context(cafile=plane.ca_file)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{plane.url}/api/v1/certificates",
            json={"csr_pem": csr_pem(), "token": tokens[token]},
            ssl=context,
        ) as resp,
    ):
        assert resp.status == 401
        body = await resp.json()
    assert body["error"] == "unauthenticated"
    assert reason in body["reason"]


def fault(percentage: float) -> dict[str, Any]:
    return {
        "apiVersion": "glassmesh.io/v1alpha1",
        "kind": "Fault",
        "metadata": {
            "name": "slow-inventory",
            "namespace": "shop",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
        },
        "spec": {"delay": {"fixedDelay": "2s", "percentage": percentage}},
    }


async def test_a_bad_cr_is_rejected_while_the_last_good_one_stays(
    apiserver: FakeApiServer, plane: Plane
) -> None:
    await apiserver.put(FAULTS, fault(50))
    listed = await plane.until("/api/v1/resources/faults", lambda b: len(b["items"]) == 1)
    assert listed["items"][0]["spec"]["delay"]["percentage"] == 50

    await apiserver.put(FAULTS, fault(500))  # kubectl edit: a percentage past 100
    status = await plane.until("/api/v1/kubernetes", lambda b: b["rejected"] != [])
    (rejected,) = status["rejected"]
    assert rejected["name"] == "slow-inventory"
    assert "spec.delay.percentage" in rejected["error"]
    assert status["rejections_total"] == 1
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{plane.control.metrics_url}/metrics") as resp,
    ):
        scraped = await resp.text()
    assert "glassmesh_controlplane_kubernetes_resources_rejected_total 1\n" in scraped
    assert "glassmesh_controlplane_kubernetes_resources_rejected 1\n" in scraped
    for _ in range(100):
        if apiserver.events:
            break
        await asyncio.sleep(0.05)
    (event,) = apiserver.events
    assert event["type"] == "Warning" and event["reason"] == "Rejected"
    assert event["involvedObject"]["kind"] == "Fault"
    assert event["involvedObject"]["name"] == "slow-inventory"
    assert "spec.delay.percentage" in event["message"]
    shown = await plane.cli("get", "faults", "-n", "shop", "-o", "json")
    assert json.loads(shown)[0]["spec"]["delay"]["percentage"] == 50  # still in force

    await apiserver.put(FAULTS, fault(25))  # fixed
    await plane.until(
        "/api/v1/resources/faults",
        lambda b: b["items"][0]["spec"]["delay"]["percentage"] == 25,
    )
    assert (await plane.get("/api/v1/kubernetes"))["rejected"] == []

    await apiserver.delete(FAULTS, "shop", "slow-inventory")
    await plane.until("/api/v1/resources/faults", lambda b: b["items"] == [])


async def test_a_watch_whose_version_was_compacted_away_lists_again(
    apiserver: FakeApiServer, plane: Plane
) -> None:
    await apiserver.put(SERVICES, SERVICE)
    await apiserver.put(PODS, pod("web-1"))
    await apiserver.put(SLICES, endpoint_slice(True, ("web-1", "10.1.0.5")))
    await plane.until("/api/v1/endpoints", lambda b: len(web_endpoints(b)) == 1)

    # A pod is added whose event the watch never sees: history is compacted past it.
    await apiserver.put_silently(PODS, pod("web-2"))
    await apiserver.put_silently(
        SLICES, endpoint_slice(None, ("web-1", "10.1.0.5"), ("web-2", "10.1.0.6"))
    )
    await apiserver.compact()
    body = await plane.until("/api/v1/endpoints", lambda b: len(web_endpoints(b)) == 2)
    assert {e["address"] for e in body["items"]} == {"10.1.0.5", "10.1.0.6"}
    watches = (await plane.get("/api/v1/kubernetes"))["watches"]
    assert watches["Pod"]["gone"] >= 1 and watches["Pod"]["lists"] >= 2
    assert apiserver.expired >= 3  # Services, EndpointSlices and Pods at least


async def test_api_server_errors_are_retried_with_backoff(
    apiserver: FakeApiServer, plane: Plane
) -> None:
    await plane.until("/api/v1/kubernetes", lambda b: b["watches"]["Pod"]["synced"])
    apiserver.fail(PODS, 3)
    await apiserver.compact()  # the watches end; the next list and watch of pods fail 3 times
    await apiserver.put(SERVICES, SERVICE)
    await apiserver.put(PODS, pod("web-1"))
    await apiserver.put(SLICES, endpoint_slice(True, ("web-1", "10.1.0.5")))
    await plane.until("/api/v1/endpoints", lambda b: len(web_endpoints(b)) == 1)
    pods = (await plane.get("/api/v1/kubernetes"))["watches"]["Pod"]
    assert pods["errors"] == 3 and "HTTP 500" in pods["last_error"]


def traffic_policy(policy: str) -> dict[str, Any]:
    return {
        "apiVersion": "glassmesh.io/v1alpha1",
        "kind": "TrafficPolicy",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"host": "web", "trafficPolicy": {"loadBalancer": {"simple": policy}}},
    }


async def test_a_sidecar_on_its_projected_token_is_pushed_the_clusters_the_api_server_says(
    tmp_path: Path, apiserver: FakeApiServer, plane: Plane
) -> None:
    # The sidecar's certificate comes from its projected token, as in a pod.
    token_file = tmp_path / "token"
    token_file.write_text(apiserver.mint("shop", "web", ["glassmesh"]))
    agent = agent_on(token_file, plane)
    issued = await agent.renew()
    (tmp_path / "cert.pem").write_bytes(issued.chain_pem)
    (tmp_path / "key.pem").write_bytes(issued.key_pem)
    context = ssl.create_default_context(cafile=plane.ca_file)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")

    await apiserver.put(SERVICES, SERVICE)
    await apiserver.put(PODS, pod("web-1"))
    await apiserver.put(SLICES, endpoint_slice(True, ("web-1", "10.1.0.5")))
    await apiserver.put(POLICIES, traffic_policy("LEAST_REQUEST"))

    def web_cluster(snapshot: Snapshot) -> ClusterConfig | None:
        return next((c for c in snapshot.clusters if c.name == "web"), None)

    def pushed(snapshot: Snapshot) -> bool:
        cluster = web_cluster(snapshot)
        return cluster is not None and cluster.load_balancer.policy == "least_request"

    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{plane.url}/api/v1/stream", ssl=context) as ws,
    ):
        # Its registration names its stream only: the API server alone says where "web" is.
        hello = Registration(
            service="web", namespace="shop", address="127.0.0.1", port=1, ready=True
        )
        await ws.send_bytes(encode(hello))
        snapshot = await _snapshot_until(ws, pushed)
        cluster = web_cluster(snapshot)
        assert cluster is not None and cluster.identity == WEB_ID
        assert [(e.address, e.port) for e in cluster.endpoints] == [("10.1.0.5", 15006)]

        await apiserver.put(POLICIES, traffic_policy("FASTEST"))  # not a balancer we know
        await plane.until("/api/v1/kubernetes", lambda b: b["rejected"] != [])
        await apiserver.put(PODS, pod("web-2"))  # a later change is pushed on the good policy
        await apiserver.put(
            SLICES, endpoint_slice(True, ("web-1", "10.1.0.5"), ("web-2", "10.1.0.6"))
        )
        await _snapshot_until(  # two endpoints, still least_request
            ws, lambda s: pushed(s) and len(getattr(web_cluster(s), "endpoints", [])) == 2
        )


async def _snapshot_until(
    ws: aiohttp.ClientWebSocketResponse, check: Callable[[Snapshot], bool]
) -> Snapshot:
    """ACKs snapshots until one passes ``check`` (at most 10 s)."""
    async with asyncio.timeout(10):
        while True:
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.BINARY, message
            snapshot = decode_server(message.data)
            await ws.send_bytes(encode(Ack(version=snapshot.version)))
            if check(snapshot):
                return snapshot


async def test_a_route_waiting_for_its_subsets_policy_is_applied_when_the_policy_comes(
    apiserver: FakeApiServer, plane: Plane
) -> None:
    backend = {"name": "web", "port": 8080, "subset": "v2"}
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web-v2", "namespace": "shop"},
        "spec": {"parentRefs": [{"name": "web"}], "rules": [{"backendRefs": [backend]}]},
    }
    await apiserver.put(ROUTES, route)
    await plane.until("/api/v1/kubernetes", lambda b: b["rejected"] != [])
    policy = traffic_policy("ROUND_ROBIN")
    policy["spec"]["subsets"] = [{"name": "v2", "labels": {"version": "v2"}}]
    await apiserver.put(POLICIES, policy)  # the route itself does not change
    await plane.until("/api/v1/resources/httproutes", lambda b: len(b["items"]) == 1)
    assert (await plane.get("/api/v1/kubernetes"))["rejected"] == []
