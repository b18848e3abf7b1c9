"""The control plane's certificate API over real HTTPS: a CSR and a join token in, a chain out.

The identity comes from the token, never from the CSR; a bad credential or request gets a bare
4xx; the CA survives a restart.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from controlplane.server import ControlPlane, ControlPlaneSettings

ASKED = "spiffe://cluster.local/ns/kube-system/sa/admin"
GRANTED = "spiffe://cluster.local/ns/app/sa/web"


def csr_pem(asked: str = ASKED) -> str:
    """A CSR for a fresh P-256 key that asks for ``asked``."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "web")]))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(asked)]), False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture
async def plane(tmp_path: Path) -> AsyncIterator[tuple[ControlPlane, str]]:
    control = ControlPlane(ControlPlaneSettings(data_dir=tmp_path / "data", port=0))
    url = await control.start()
    yield control, url
    await control.shutdown()


def client_ssl(data_dir: Path) -> ssl.SSLContext:
    """Trust only the control plane's own CA, and check its name."""
    return ssl.create_default_context(cafile=data_dir / "ca" / "ca.pem")


async def post(url: str, data_dir: Path, body: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/api/v1/certificates", json=body, ssl=client_ssl(data_dir)) as resp,
    ):
        return resp.status, await resp.json()


async def test_the_certificate_carries_the_tokens_identity_not_the_csrs(
    plane: tuple[ControlPlane, str],
) -> None:
    control, url = plane
    token = control.join_tokens.issue("app", "web", 3600, time.time())
    status, body = await post(
        url, control.settings.data_dir, {"csr_pem": csr_pem(), "token": token}
    )
    assert status == 200
    (leaf,) = x509.load_pem_x509_certificates(body["chain_pem"].encode())  # issued by the root
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [GRANTED]
    assert len(list(sans)) == 1
    (root,) = x509.load_pem_x509_certificates(body["trust_bundle_pem"].encode())
    leaf.verify_directly_issued_by(root)
    assert body["expires_at"] == pytest.approx(time.time() + 24 * 3600, abs=120)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"csr_pem": "x", "token": "gmj1.garbage.sig"}, 401),
        ({"csr_pem": "not a csr", "token": None}, 400),
        ({"csr": "wrong field"}, 400),
    ],
)
async def test_bad_requests_get_a_bare_4xx(
    plane: tuple[ControlPlane, str], body: Any, status: int
) -> None:
    control, url = plane
    got, answer = await post(url, control.settings.data_dir, body)
    assert got == status
    if status == 401:
        assert answer == {"error": "unauthenticated"}  # nothing about why


async def test_a_valid_token_with_a_bad_csr_is_400(plane: tuple[ControlPlane, str]) -> None:
    control, url = plane
    token = control.join_tokens.issue("app", "web", 3600, time.time())
    status, answer = await post(url, control.settings.data_dir, {"csr_pem": "junk", "token": token})
    assert status == 400 and answer["error"].startswith("csr rejected")


async def test_an_expired_token_is_401(plane: tuple[ControlPlane, str]) -> None:
    control, url = plane
    token = control.join_tokens.issue("app", "web", 60, time.time() - 3600)
    status, _ = await post(url, control.settings.data_dir, {"csr_pem": csr_pem(), "token": token})
    assert status == 401


async def test_an_oversized_body_is_413(plane: tuple[ControlPlane, str]) -> None:
    control, url = plane
    body = {"csr_pem": "A" * 100_000, "token": "t"}
    status, _ = await post(url, control.settings.data_dir, body)
    assert status == 413


async def test_the_ca_and_token_key_survive_a_restart(tmp_path: Path) -> None:
    settings = ControlPlaneSettings(data_dir=tmp_path / "data", port=0)
    first = ControlPlane(settings)
    token = first.join_tokens.issue("app", "web", 3600, time.time())
    root_before = first.authority.cert
    first.store.close()
    second = ControlPlane(settings)
    url = await second.start()
    try:
        status, body = await post(url, settings.data_dir, {"csr_pem": csr_pem(), "token": token})
        assert status == 200
        (root,) = x509.load_pem_x509_certificates(body["trust_bundle_pem"].encode())
        assert root == root_before
    finally:
        await second.shutdown()


async def test_a_request_without_token_or_client_certificate_is_401(
    plane: tuple[ControlPlane, str],
) -> None:
    control, url = plane
    status, answer = await post(url, control.settings.data_dir, {"csr_pem": csr_pem()})
    assert (status, answer) == (401, {"error": "unauthenticated"})
