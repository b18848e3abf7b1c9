"""Join tokens: signed by the data dir's key, scoped to one identity, refused once expired."""

from __future__ import annotations

import argparse
import base64
import json
import time
from pathlib import Path

import pytest

from controlplane.commands import token as token_command
from controlplane.tokens import KEY_FILE, InvalidToken, TokenAuthority, parse_ttl

NOW = 1_800_000_000.0
HOUR = 3600.0


@pytest.fixture
def authority(tmp_path: Path) -> TokenAuthority:
    return TokenAuthority.load_or_create(tmp_path / "data", "cluster.local")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_valid_token_verifies_to_the_identity_it_was_issued_for(
    authority: TokenAuthority,
) -> None:
    token = authority.issue("app", "web", HOUR, NOW)
    claims = authority.verify(token, NOW + HOUR - 1)
    assert (claims.namespace, claims.service_account) == ("app", "web")
    assert claims.trust_domain == "cluster.local"
    assert (claims.issued_at, claims.expires_at) == (NOW, NOW + HOUR)
    assert claims.spiffe_id() == "spiffe://cluster.local/ns/app/sa/web"
    assert token.startswith("gmj1.")


def test_two_tokens_for_one_identity_differ_by_their_id(authority: TokenAuthority) -> None:
    first, second = (authority.verify(authority.issue("app", "web", HOUR, NOW), NOW) for _ in "ab")
    assert first.token_id != second.token_id


def test_a_token_is_refused_from_the_second_it_expires(authority: TokenAuthority) -> None:
    token = authority.issue("app", "web", 90, NOW)
    with pytest.raises(InvalidToken, match="expired"):
        authority.verify(token, NOW + 90)


def test_a_token_issued_well_in_the_future_is_refused(authority: TokenAuthority) -> None:
    token = authority.issue("app", "web", HOUR, NOW + 1000)
    assert authority.verify(token, NOW + 800).namespace == "app"  # within the clock skew
    with pytest.raises(InvalidToken, match="future"):
        authority.verify(token, NOW)


def test_tampered_claims_are_refused(authority: TokenAuthority) -> None:
    prefix, claims, signature = authority.issue("app", "web", HOUR, NOW).split(".")
    forged = json.loads(_unb64(claims)) | {"ns": "kube-system", "sa": "admin"}
    token = f"{prefix}.{_b64(json.dumps(forged).encode())}.{signature}"
    with pytest.raises(InvalidToken, match="signature"):
        authority.verify(token, NOW)


def test_a_tampered_signature_is_refused(authority: TokenAuthority) -> None:
    prefix, claims, signature = authority.issue("app", "web", HOUR, NOW).split(".")
    raw = bytearray(_unb64(signature))
    raw[0] ^= 1
    with pytest.raises(InvalidToken):
        authority.verify(f"{prefix}.{claims}.{_b64(bytes(raw))}", NOW)
    with pytest.raises(InvalidToken):
        authority.verify(f"{prefix}.{claims}.{signature[:-4]}", NOW)


def test_a_non_canonical_spelling_of_a_valid_signature_is_refused(
    authority: TokenAuthority,
) -> None:
    prefix, claims, signature = authority.issue("app", "web", HOUR, NOW).split(".")
    # 64 bytes leave 4 unused low bits in the last character: flip one of them.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(signature[-1]) ^ 1]
    assert _unb64(signature[:-1] + last) == _unb64(signature)
    with pytest.raises(InvalidToken, match="canonical"):
        authority.verify(f"{prefix}.{claims}.{signature[:-1]}{last}", NOW)


def test_a_token_signed_with_another_data_dirs_key_is_refused(
    tmp_path: Path, authority: TokenAuthority
) -> None:
    other = TokenAuthority.load_or_create(tmp_path / "other", "cluster.local")
    with pytest.raises(InvalidToken, match="signature"):
        authority.verify(other.issue("app", "web", HOUR, NOW), NOW)


def test_a_token_for_another_trust_domain_is_refused(tmp_path: Path) -> None:
    ours = TokenAuthority.load_or_create(tmp_path, "cluster.local")
    theirs = TokenAuthority.load_or_create(tmp_path, "other.example")  # same key, other domain
    with pytest.raises(InvalidToken, match="trust domain"):
        ours.verify(theirs.issue("app", "web", HOUR, NOW), NOW)


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "gmj1", "gmj1..", "gmj2.e30.AAAA", "gmj1.e30.AAAA.AAAA", "gmj1.e30.!!!!", "é"],
)
def test_garbage_wrong_prefix_and_empty_tokens_are_refused(
    authority: TokenAuthority, token: str
) -> None:
    with pytest.raises(InvalidToken):
        authority.verify(token, NOW)


def test_an_oversized_token_is_refused_before_any_work(authority: TokenAuthority) -> None:
    with pytest.raises(InvalidToken, match="not a join token"):
        authority.verify("gmj1." + "A" * 10_000 + ".AAAA", NOW)


def test_the_signing_key_is_created_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    first = TokenAuthority.load_or_create(tmp_path / "data", "cluster.local")
    key_file = tmp_path / "data" / KEY_FILE
    assert key_file.stat().st_mode & 0o077 == 0
    second = TokenAuthority.load_or_create(tmp_path / "data", "cluster.local")
    assert second.verify(first.issue("app", "web", HOUR, NOW), NOW).service_account == "web"
    assert [p.name for p in (tmp_path / "data").iterdir()] == [KEY_FILE]


def test_a_key_file_that_is_not_ed25519_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE).write_text("not a key\n")
    with pytest.raises(ValueError, match=KEY_FILE):
        TokenAuthority.load_or_create(tmp_path, "cluster.local")


@pytest.mark.parametrize(
    ("namespace", "service_account", "ttl_s"),
    [
        ("App", "web", HOUR),
        ("app", "../admin", HOUR),
        ("app", "web", 0),
        ("app", "web", 31 * 86400),
    ],
)
def test_issuing_refuses_bad_names_and_ttls(
    authority: TokenAuthority, namespace: str, service_account: str, ttl_s: float
) -> None:
    with pytest.raises(ValueError):
        authority.issue(namespace, service_account, ttl_s, NOW)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h", 3600), ("24h", 86400), ("7d", 604800), ("30d", 2592000)],
)
def test_ttls_parse_to_seconds(text: str, seconds: float) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "0s", "-1h", "1.5h", "1w", "31d", "721h", "1 h", "٣h"])
def test_malformed_zero_or_too_long_ttls_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="ttl"):
        parse_ttl(text)


def _create_args(data_dir: Path, **overrides: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    token_command.add_parser(parser.add_subparsers())
    argv = ["token", "create", "--namespace", "app", "--service-account", "web"]
    argv += ["--data-dir", str(data_dir)]
    for flag, value in overrides.items():
        argv += [f"--{flag.replace('_', '-')}", value]
    return parser.parse_args(argv)


def test_token_create_prints_only_the_token_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _create_args(tmp_path, ttl="15m")
    assert args.func is token_command.run_create
    assert token_command.run_create(args) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert out == token + "\n"
    assert token not in err and "spiffe://cluster.local/ns/app/sa/web" in err
    authority = TokenAuthority.load_or_create(tmp_path, "cluster.local")
    claims = authority.verify(token, time.time())  # the CLI is the edge that reads the clock
    assert claims.expires_at - claims.issued_at == 900


def test_token_create_reports_a_bad_ttl_and_prints_no_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert token_command.run_create(_create_args(tmp_path, ttl="90d")) == 2
    out, err = capsys.readouterr()
    assert out == "" and "30 day" in err
