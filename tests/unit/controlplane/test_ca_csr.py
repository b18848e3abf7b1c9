"""CSR signing: the certificate names the caller's credential, never what the CSR asks for."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from cryptography.x509.verification import PolicyBuilder, Store

from controlplane.api.identity import (
    CsrRequest,
    CsrResponse,
    InvalidSpiffeId,
    SpiffeId,
    parse_spiffe_id,
    spiffe_id,
)
from controlplane.ca import (
    MAX_CSR_BYTES,
    Authority,
    AuthorityError,
    CsrRejected,
    TrustBundle,
    create_root,
    load_authority,
    sign_csr,
)

NOW = dt.datetime(2026, 11, 26, tzinfo=dt.UTC)
WEB = "spiffe://cluster.local/ns/app/sa/web"
ADMIN = "spiffe://cluster.local/ns/kube-system/sa/admin"
CsrKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def _csr(key: CsrKey | None = None, *extensions: x509.ExtensionType) -> bytes:
    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "admin")])
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    digest = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, digest).public_bytes(serialization.Encoding.PEM)


def _uris(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert len(list(san)) == len(san.get_values_for_type(x509.UniformResourceIdentifier))
    return san.get_values_for_type(x509.UniformResourceIdentifier)


def _intermediate(root: Authority, expires: dt.datetime) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "glassmesh intermediate")])
    usage = root.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(root.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(expires)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.key.public_key()),
            critical=False,
        )
        .sign(root.key, hashes.SHA256())
    )
    return Authority(key, cert)


def _write(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


def test_a_csr_asking_for_admin_gets_a_cert_for_the_callers_identity_only() -> None:
    ca = create_root(now=NOW)
    key = ec.generate_private_key(ec.SECP256R1())
    csr = _csr(
        key,
        x509.SubjectAlternativeName([x509.UniformResourceIdentifier(ADMIN)]),
        x509.BasicConstraints(ca=True, path_length=None),
    )
    leaf = sign_csr(ca, csr, WEB, now=NOW).leaf
    assert _uris(leaf) == [WEB]
    assert "admin" not in leaf.subject.rfc4514_string()
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert leaf.public_key() == key.public_key()
    leaf.verify_directly_issued_by(ca.cert)


def test_a_signed_leaf_is_a_tls_client_and_server_cert_that_cannot_sign() -> None:
    leaf = sign_csr(create_root(now=NOW), _csr(), WEB, now=NOW).leaf
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature
    assert not usage.value.key_cert_sign and not usage.value.crl_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}


@pytest.mark.parametrize(
    "key",
    [
        ec.generate_private_key(ec.SECP384R1()),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ],
    ids=["p384", "rsa2048"],
)
def test_p384_and_rsa_2048_keys_are_accepted(key: CsrKey) -> None:
    leaf = sign_csr(create_root(now=NOW), _csr(key), WEB, now=NOW).leaf
    assert leaf.public_key() == key.public_key()


@pytest.mark.parametrize(
    "key",
    [
        rsa.generate_private_key(public_exponent=65537, key_size=1024),
        ec.generate_private_key(ec.SECP521R1()),
        ed25519.Ed25519PrivateKey.generate(),
    ],
    ids=["rsa1024", "p521", "ed25519"],
)
def test_weak_or_unsupported_keys_are_rejected(key: CsrKey) -> None:
    with pytest.raises(CsrRejected, match="key"):
        sign_csr(create_root(now=NOW), _csr(key), WEB, now=NOW)


def test_a_csr_whose_self_signature_does_not_verify_is_rejected() -> None:
    der = bytearray(x509.load_pem_x509_csr(_csr()).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last byte of the signature
    pem = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(CsrRejected, match="self-signature"):
        sign_csr(create_root(now=NOW), pem, WEB, now=NOW)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        create_root().cert_pem(),
        _csr() + _csr(),
    ],
    ids=["empty", "garbage", "bad-base64-body", "a-certificate", "two-csrs"],
)
def test_input_that_is_not_one_pem_csr_is_rejected(data: bytes) -> None:
    with pytest.raises(CsrRejected):
        sign_csr(create_root(now=NOW), data, WEB, now=NOW)


def test_a_der_csr_is_rejected() -> None:
    der = x509.load_pem_x509_csr(_csr()).public_bytes(serialization.Encoding.DER)
    with pytest.raises(CsrRejected, match="PEM"):
        sign_csr(create_root(now=NOW), der, WEB, now=NOW)


def test_an_oversized_csr_is_rejected() -> None:
    padding = x509.UnrecognizedExtension(ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"x" * 20_000)
    csr = _csr(None, padding)
    assert len(csr) > MAX_CSR_BYTES
    with pytest.raises(CsrRejected, match="larger"):
        sign_csr(create_root(now=NOW), csr, WEB, now=NOW)


def test_a_ten_year_lifetime_is_clamped_to_90_days() -> None:
    issued = sign_csr(create_root(now=NOW), _csr(), WEB, dt.timedelta(days=3650), NOW)
    assert issued.expires_at - NOW == dt.timedelta(days=90)


def test_a_leaf_never_outlives_its_issuer(tmp_path: Path) -> None:
    root = create_root(now=NOW)
    intermediate = _intermediate(root, NOW + dt.timedelta(hours=2))
    ca = load_authority(
        _write(tmp_path, "int.pem", intermediate.cert_pem()),
        _write(tmp_path, "int-key.pem", intermediate.key_pem()),
        _write(tmp_path, "chain.pem", root.cert_pem()),
    )
    assert sign_csr(ca, _csr(), WEB, now=NOW).expires_at == NOW + dt.timedelta(hours=2)


def test_a_non_positive_lifetime_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="lifetime"):
        sign_csr(create_root(now=NOW), _csr(), WEB, dt.timedelta(0), NOW)


def test_an_intermediate_signs_leaves_that_verify_through_it_to_the_root(tmp_path: Path) -> None:
    root = create_root(now=NOW)
    intermediate = _intermediate(root, NOW + dt.timedelta(days=365))
    ca = load_authority(
        _write(tmp_path, "int.pem", intermediate.cert_pem()),
        _write(tmp_path, "int-key.pem", intermediate.key_pem()),
        _write(tmp_path, "chain.pem", intermediate.cert_pem() + root.cert_pem()),
    )
    issued = sign_csr(ca, _csr(), WEB, now=NOW)
    chain = x509.load_pem_x509_certificates(issued.chain_pem())
    assert chain == [issued.leaf, intermediate.cert]
    assert ca.trust_bundle().certs() == (root.cert,)
    verifier = (
        PolicyBuilder().store(Store([root.cert])).time(NOW + dt.timedelta(hours=1))
    ).build_client_verifier()
    verified = verifier.verify(chain[0], chain[1:])
    assert [c.subject for c in verified.chain] == [
        issued.leaf.subject,
        intermediate.cert.subject,
        root.cert.subject,
    ]


def test_a_root_loads_without_a_chain_and_issues_a_leaf_only_chain(tmp_path: Path) -> None:
    root = create_root(now=NOW)
    ca = load_authority(
        _write(tmp_path, "ca.pem", root.cert_pem()), _write(tmp_path, "ca-key.pem", root.key_pem())
    )
    issued = sign_csr(ca, _csr(), WEB, now=NOW)
    assert issued.chain == (issued.leaf,)
    assert ca.trust_bundle().certs() == (root.cert,)


def test_unusable_ca_material_is_refused_naming_the_file(tmp_path: Path) -> None:
    root, other = create_root(now=NOW), create_root(now=NOW)
    intermediate = _intermediate(root, NOW + dt.timedelta(days=30))
    int_pem = _write(tmp_path, "int.pem", intermediate.cert_pem())
    int_key = _write(tmp_path, "int-key.pem", intermediate.key_pem())
    with pytest.raises(AuthorityError, match=r"int\.pem: an intermediate CA needs its chain"):
        load_authority(int_pem, int_key)
    with pytest.raises(AuthorityError, match=r"wrong-chain\.pem"):
        load_authority(int_pem, int_key, _write(tmp_path, "wrong-chain.pem", other.cert_pem()))
    with pytest.raises(AuthorityError, match="does not match"):
        load_authority(int_pem, _write(tmp_path, "other-key.pem", other.key_pem()))
    leaf = sign_csr(root, _csr(), WEB, now=NOW).chain_pem()
    with pytest.raises(AuthorityError, match=r"leaf\.pem: not a CA"):
        load_authority(_write(tmp_path, "leaf.pem", leaf), int_key)


def test_a_trust_bundle_holds_two_roots_once_each() -> None:
    old, new = create_root(now=NOW), create_root(now=NOW)
    bundle = TrustBundle([old.cert])
    assert bundle.add(new.cert) is True
    assert bundle.add(old.cert) is False
    assert len(bundle) == 2
    reloaded = TrustBundle.from_pem(bundle.pem() + old.cert_pem())
    assert reloaded.certs() == (old.cert, new.cert)
    assert bundle.pem() == old.cert_pem() + new.cert_pem()


def test_a_trust_bundle_refuses_a_leaf() -> None:
    leaf = sign_csr(create_root(now=NOW), _csr(), WEB, now=NOW).leaf
    with pytest.raises(ValueError, match="not a CA"):
        TrustBundle([leaf])


BAD_SPIFFE_IDS = {
    "upper-case-td": "spiffe://Cluster.local/ns/app/sa/web",
    "percent-2f": "spiffe://cluster.local/ns/app%2Fsa/sa/web",
    "dot-dot": "spiffe://cluster.local/ns/../sa/web",
    "dot": "spiffe://cluster.local/ns/app/sa/.",
    "empty-segment": "spiffe://cluster.local/ns//sa/web",
    "trailing-slash": "spiffe://cluster.local/ns/app/sa/web/",
    "query": "spiffe://cluster.local/ns/app/sa/web?x=1",
    "fragment": "spiffe://cluster.local/ns/app/sa/web#x",
    "port": "spiffe://cluster.local:443/ns/app/sa/web",
    "userinfo": "spiffe://admin@cluster.local/ns/app/sa/web",
    "too-long": "spiffe://cluster.local/ns/app/sa/" + "a." * 1010 + "a",
    "other-scheme": "https://cluster.local/ns/app/sa/web",
    "upper-scheme": "SPIFFE://cluster.local/ns/app/sa/web",
    "no-path": "spiffe://cluster.local",
    "other-path": "spiffe://cluster.local/sa/web/ns/app",
    "extra-segment": "spiffe://cluster.local/ns/app/sa/web/x",
    "upper-namespace": "spiffe://cluster.local/ns/App/sa/web",
    "non-ascii": "spiffe://cluster.local/ns/app/sa/wéb",
    "newline": "spiffe://cluster.local/ns/app/sa/web\n",
}


@pytest.mark.parametrize("value", BAD_SPIFFE_IDS.values(), ids=BAD_SPIFFE_IDS.keys())
def test_malformed_spiffe_ids_are_refused_by_the_parser_and_the_ca(value: str) -> None:
    with pytest.raises(InvalidSpiffeId):
        parse_spiffe_id(value)
    with pytest.raises(ValueError, match="not a SPIFFE ID"):
        sign_csr(create_root(now=NOW), _csr(), value, now=NOW)


def test_an_id_over_2048_bytes_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(InvalidSpiffeId, match="at most 2048 bytes"):
        parse_spiffe_id(BAD_SPIFFE_IDS["too-long"])


def test_spiffe_ids_are_built_and_parsed_back() -> None:
    assert spiffe_id("cluster.local", "app", "web") == WEB
    assert parse_spiffe_id(WEB) == SpiffeId("cluster.local", "app", "web")
    dotted = "spiffe://prod.example.com/ns/kube-system/sa/build.bot-1"
    assert parse_spiffe_id(dotted).service_account == "build.bot-1"
    with pytest.raises(InvalidSpiffeId, match="namespace"):
        spiffe_id("cluster.local", "a/b", "web")


def test_issuance_messages_round_trip_and_refuse_unknown_fields() -> None:
    response = CsrResponse(chain_pem="c", trust_bundle_pem="b", expires_at=1.5)
    assert msgspec.json.decode(msgspec.json.encode(response), type=CsrResponse) == response
    with pytest.raises(msgspec.ValidationError, match="san"):
        msgspec.json.decode(b'{"csr_pem": "x", "token": "t", "san": "y"}', type=CsrRequest)
