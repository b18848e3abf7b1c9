"""The sidecar config model: what a user writes is validated at start-up, naming the bad field."""

from __future__ import annotations

import pytest

from controlplane.api.sidecar import ConfigError, decode_sidecar_config

BASE = """service: web
identity: spiffe://cluster.local/ns/default/sa/web
app: {port: 8080}
tls: {cert: web.pem, key: web-key.pem, ca_bundle: ca.pem}
"""


def test_a_minimal_config_gets_the_documented_defaults() -> None:
    config = decode_sidecar_config(BASE)
    assert config.listeners.outbound.port == 15001
    assert config.listeners.inbound.port == 15006
    assert config.listeners.admin.port == 15000
    assert config.listeners.admin.address == "127.0.0.1"
    assert config.limits.max_request_headers == 100
    assert config.timeouts.connect_s == 5.0
    assert config.clusters == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("clusters:\n - {name: api, identity: spiffe://cluster.local/ns/a/sa/b, "
         "endpoints: [{address: 127.0.0.1, port: 70000}]}\n",
         "$.clusters[0].endpoints[0].port"),
        ("clusters:\n - {name: api, endpoints: []}\n", "$.clusters[0]"),
        ("clusters:\n - {name: api, identity: spiffe://cluster.local/ns/a/sa/b, tls: weird}\n",
         "$.clusters[0].tls"),
        ("timeouts: {connect_s: 0}\n", "$.timeouts.connect_s"),
        ("limits: {max_request_headers: many}\n", "$.limits.max_request_headers"),
        ("listner: {}\n", "listner"),
    ],
)  # fmt: skip
def test_a_bad_field_is_named_in_the_error(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        decode_sidecar_config(BASE + extra)
    assert message in str(err.value)


def test_an_identity_that_is_not_a_spiffe_id_is_refused() -> None:
    with pytest.raises(ConfigError, match="identity"):
        decode_sidecar_config(BASE.replace("spiffe://cluster.local/ns/default/sa/web", "web"))


def test_one_host_cannot_name_two_clusters() -> None:
    extra = (
        "clusters:\n"
        " - {name: api, tls: plaintext, endpoints: []}\n"
        " - {name: api2, hosts: [api], tls: plaintext, endpoints: []}\n"
    )
    with pytest.raises(ConfigError, match="more than one cluster"):
        decode_sidecar_config(BASE + extra)


def test_invalid_yaml_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        decode_sidecar_config("service: [")


def test_an_admin_listener_off_loopback_needs_a_token() -> None:
    exposed = BASE + "listeners: {admin: {address: 0.0.0.0, port: 15000}}\n"
    with pytest.raises(ConfigError, match="admin_token_file"):
        decode_sidecar_config(exposed)
    config = decode_sidecar_config(exposed + "admin_token_file: admin-token\n")
    assert config.admin_token_file == "admin-token"


CP_BASE = BASE.replace(
    "tls: {cert: web.pem, key: web-key.pem, ca_bundle: ca.pem}\n",
    "control_plane: {url: 'https://127.0.0.1:15012', ca_file: ca.pem, token_file: token}\n",
)


def test_control_plane_mode_defaults_and_readiness_fields() -> None:
    config = decode_sidecar_config(CP_BASE + "labels: {version: v2}\n")
    assert config.control_plane is not None and config.control_plane.ping_s == 3.0
    assert config.labels == {"version": "v2"}
    assert (config.readiness.path, config.readiness.failure_threshold) == (None, 3)
    with pytest.raises(ConfigError, match=r"\$\.readiness"):
        decode_sidecar_config(CP_BASE + "readiness: {path: healthz}\n")
    with pytest.raises(ConfigError, match="token_file: give either"):
        decode_sidecar_config(CP_BASE.replace("token_file: token", "token: t, token_file: f"))


def test_a_token_on_the_command_line_replaces_the_files_token_file() -> None:
    config = decode_sidecar_config(CP_BASE, control_plane={"token": "gmj1.x.y"})
    assert config.control_plane is not None
    assert (config.control_plane.token, config.control_plane.token_file) == ("gmj1.x.y", None)


def test_routes_and_policies_in_the_file_are_for_standalone_mode_only() -> None:
    extra = (
        "virtual_hosts:\n"
        " - {name: api, hosts: [api],\n"
        "    routes: [{route: local/r, rule: 0, backends: [{cluster: api}]}]}\n"
        "peer_authentications:\n"
        " - {apiVersion: glassmesh.io/v1alpha1, kind: PeerAuthentication,\n"
        "    metadata: {name: p}, spec: {mtls: {mode: PERMISSIVE}}}\n"
    )
    config = decode_sidecar_config(BASE + extra)
    assert config.virtual_hosts[0].routes[0].backends[0].cluster == "api"
    assert config.peer_authentications[0].spec.mtls is not None
    with pytest.raises(ConfigError, match="virtual_hosts: with control_plane"):
        decode_sidecar_config(CP_BASE + extra)
