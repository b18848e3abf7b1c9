"""The certificate agent on a fake clock: renewal at half the remaining life, backoff that keeps
the current certificate, refusal of a certificate that is not ours; and the config that turns it
on (exactly one of ``tls`` and ``control_plane``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path

import pytest
from cryptography import x509

from controlplane import cli
from controlplane.api.identity import CsrRequest, CsrResponse
from controlplane.api.sidecar import ConfigError, SidecarConfig, decode_sidecar_config
from controlplane.ca import create_root, sign_csr
from sidecar import server
from sidecar.agent import AgentSettings, CertificateAgent, CertificateError, IssuedCertificate
from sidecar.backoff import Backoff

ME = "spiffe://cluster.local/ns/default/sa/web"
OTHER = "spiffe://cluster.local/ns/default/sa/other"
START = 1_700_000_000.0


class FakeTime:
    """A clock that ``sleep`` advances; the ``stall_after``-th sleep blocks until cancelled."""

    def __init__(self, stall_after: int) -> None:
        self.now = START
        self.sleeps: list[float] = []
        self.stall_after = stall_after
        self.stalled = asyncio.Event()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if len(self.sleeps) >= self.stall_after:
            self.stalled.set()
            await asyncio.Event().wait()
        self.now += seconds


class FakeControlPlane:
    """Signs CSRs for ``identity`` with a real CA; the next ``failures`` calls fail."""

    def __init__(self, time: FakeTime, identity: str = ME, lifetime_s: float = 100.0) -> None:
        self.ca = create_root()
        self.time = time
        self.identity = identity
        self.lifetime = dt.timedelta(seconds=lifetime_s)
        self.failures = 0
        self.requests: list[CsrRequest] = []

    async def __call__(self, request: CsrRequest) -> CsrResponse:
        self.requests.append(request)
        if self.failures:
            self.failures -= 1
            raise CertificateError("the control plane is down")
        now = dt.datetime.fromtimestamp(self.time.now, dt.UTC)
        issued = sign_csr(self.ca, request.csr_pem.encode(), self.identity, self.lifetime, now)
        return CsrResponse(
            chain_pem=issued.chain_pem().decode(),
            trust_bundle_pem=self.ca.cert_pem().decode(),
            expires_at=issued.expires_at.timestamp(),
        )


def make_agent(
    tmp_path: Path, time: FakeTime, plane: FakeControlPlane, rng: float = 0.0
) -> tuple[CertificateAgent, list[IssuedCertificate]]:
    (tmp_path / "token").write_text("a-token\n")
    installed: list[IssuedCertificate] = []
    settings = AgentSettings(url="https://cp", identity=ME, token_file=tmp_path / "token")
    agent = CertificateAgent(
        settings, installed.append, plane, clock=time.clock, sleep=time.sleep, rng=lambda: rng
    )
    return agent, installed


async def run_until_stalled(agent: CertificateAgent, time: FakeTime) -> None:
    await agent.start()
    async with asyncio.timeout(5):
        await time.stalled.wait()
    await agent.close()


@pytest.mark.parametrize(("rng", "delay"), [(0.0, 50.0), (0.5, 47.5)])
async def test_renewal_is_due_at_half_the_remaining_life_with_jitter(
    tmp_path: Path, rng: float, delay: float
) -> None:
    time = FakeTime(stall_after=1)
    agent, installed = make_agent(tmp_path, time, FakeControlPlane(time), rng)
    await run_until_stalled(agent, time)
    assert time.sleeps == [pytest.approx(delay)]
    assert len(installed) == 1 and agent.rotations == 0


async def test_each_rotation_installs_a_new_key_and_certificate(tmp_path: Path) -> None:
    time = FakeTime(stall_after=3)
    plane = FakeControlPlane(time)
    agent, installed = make_agent(tmp_path, time, plane)
    await run_until_stalled(agent, time)
    assert time.sleeps == [50.0, 50.0, 50.0]
    assert agent.rotations == 2
    assert len({c.serial for c in installed}) == 3
    assert len({c.key_pem for c in installed}) == 3
    assert agent.current == installed[-1]


async def test_failed_renewals_back_off_and_keep_the_current_certificate(tmp_path: Path) -> None:
    time = FakeTime(stall_after=11)
    plane = FakeControlPlane(time)
    agent, installed = make_agent(tmp_path, time, plane)
    first = await agent.start()
    plane.failures = 9
    async with asyncio.timeout(5):
        await time.stalled.wait()
    await agent.close()
    assert time.sleeps == [50.0, 1, 2, 4, 8, 16, 32, 60, 60, 60, 50.0]
    assert agent.renewal_failures == 9
    assert installed[0] == first and len(installed) == 2  # nothing installed while failing


def test_a_backoff_delay_stays_within_its_bounds() -> None:
    backoff = Backoff(min_s=1.0, max_s=60.0)
    delays = [backoff.delay(n, rng) for n in range(100) for rng in (0.0, 0.5, 0.999)]
    assert min(delays) == 1.0 and max(delays) == 60.0
    assert backoff.delay(3, 0.999) < backoff.delay(3, 0.0) == 8.0  # jitter takes some off


async def test_seconds_left_counts_down_to_the_certificates_expiry(tmp_path: Path) -> None:
    time = FakeTime(stall_after=1)
    agent, _ = make_agent(tmp_path, time, FakeControlPlane(time))
    assert agent.seconds_left() == 0.0
    await agent.renew()
    assert agent.seconds_left() == 100.0
    time.now += 30
    assert agent.seconds_left() == 70.0


async def test_a_certificate_for_another_identity_is_refused(tmp_path: Path) -> None:
    time = FakeTime(stall_after=1)
    agent, installed = make_agent(tmp_path, time, FakeControlPlane(time, identity=OTHER))
    refusal = f"for {OTHER}, but this sidecar's identity is {ME}"
    with pytest.raises(CertificateError, match=re.escape(refusal)):
        await agent.start()
    assert installed == [] and agent.current is None
    await agent.close()


async def test_only_the_csr_leaves_the_agent_never_the_key(tmp_path: Path) -> None:
    time = FakeTime(stall_after=1)
    plane = FakeControlPlane(time)
    agent, _ = make_agent(tmp_path, time, plane)
    issued = await agent.renew()
    (request,) = plane.requests
    assert "PRIVATE KEY" not in request.csr_pem and request.token == "a-token"
    csr = x509.load_pem_x509_csr(request.csr_pem.encode())
    leaf = x509.load_pem_x509_certificate(issued.chain_pem)
    assert csr.public_key() == leaf.public_key()
    assert b"PRIVATE KEY" in issued.key_pem and "key_pem" not in repr(issued)


async def test_an_unreadable_token_file_is_named(tmp_path: Path) -> None:
    time = FakeTime(stall_after=1)
    agent, _ = make_agent(tmp_path, time, FakeControlPlane(time))
    (tmp_path / "token").unlink()
    with pytest.raises(CertificateError, match=r"control_plane\.token_file: cannot read"):
        await agent.renew()


BASE = """service: web
identity: spiffe://cluster.local/ns/default/sa/web
app: {port: 8080}
"""
TLS = "tls: {cert: web.pem, key: web-key.pem, ca_bundle: ca.pem}\n"
CONTROL_PLANE = "control_plane: {url: 'https://cp:15012', ca_file: ca.pem, token_file: token}\n"


@pytest.mark.parametrize(
    ("extra", "field"),
    [(TLS + CONTROL_PLANE, "control_plane: give either tls or control_plane"), ("", "tls:")],
    ids=["both", "neither"],
)
def test_exactly_one_of_tls_and_control_plane_is_accepted(extra: str, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        decode_sidecar_config(BASE + extra)
    assert str(err.value).startswith(field)


def test_a_control_plane_url_must_be_https() -> None:
    with pytest.raises(ConfigError, match=r"url: .* - at `\$.control_plane`"):
        decode_sidecar_config(BASE + CONTROL_PLANE.replace("https", "http"))


def test_command_line_values_fill_and_override_the_control_plane_section() -> None:
    config = decode_sidecar_config(BASE + CONTROL_PLANE, control_plane={"url": "https://x:1"})
    assert config.control_plane is not None
    assert (config.control_plane.url, config.control_plane.token_file) == ("https://x:1", "token")
    given = {"url": "https://x:1", "ca_file": "/ca.pem", "token_file": "/t"}
    assert decode_sidecar_config(BASE, control_plane=given).control_plane is not None


def test_the_cli_names_a_missing_control_plane_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "sidecar.yaml"
    config.write_text(BASE)
    code = cli.main(["sidecar", "--config", str(config), "--control-plane", "https://cp:1"])
    assert code == 2
    assert "missing required field `ca_file` - at `$.control_plane`" in capsys.readouterr().err


def test_cli_paths_are_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "sidecar.yaml").write_text(BASE + CONTROL_PLANE)
    ran: list[SidecarConfig] = []
    monkeypatch.setattr(server, "run", lambda config, base_dir: ran.append(config))
    monkeypatch.chdir(tmp_path)
    argv = ["--config", "etc/sidecar.yaml", "--token-file", "tok", "--ca-file", "cp.pem"]
    assert cli.main(["sidecar", *argv]) == 0
    (config,) = ran
    assert config.control_plane is not None
    assert config.control_plane.url == "https://cp:15012"  # kept from the file
    assert config.control_plane.token_file == str(tmp_path / "tok")
    assert config.control_plane.ca_file == str(tmp_path / "cp.pem")
