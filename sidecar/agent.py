"""The certificate agent: gets the workload's certificate from the control plane and rotates it.

The agent makes a fresh EC P-256 key for every certificate; the key is never sent anywhere (it is
handed to the TLS contexts, see ``sidecar.transport.tls.load_pem``, and the sidecar keeps a copy
in its own state directory, readable by its user only, to restart while the control plane is
down: ``restore``). It
sends a CSR and the join token, checks that the leaf it gets back certifies our key and carries
our configured SPIFFE ID, and installs it. Renewal is due at half the certificate's remaining
life (up to 10% earlier, so a fleet started together does not renew together); a failed renewal
keeps the current certificate and is retried with jittered exponential backoff.

The join token is re-read from its file at each renewal, so the file can be refreshed; a renewal
after the token expired is refused until it is.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from controlplane.api.identity import CsrRequest, CsrResponse
from sidecar import tasks
from sidecar.backoff import Backoff
from sidecar.transport.tls import TlsMaterialError

log = logging.getLogger("glassmesh.sidecar.agent")
RENEW_JITTER = 0.1
REQUEST_TIMEOUT_S = 10.0
MAX_ANSWER_BYTES = 256 * 1024


class CertificateError(Exception):
    """No usable certificate: the control plane is unreachable or refused us (``status`` is its
    HTTP status, if it answered), or what it issued is not for our identity or key."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate the control plane issued for our key, with that key and the roots."""

    chain_pem: bytes
    trust_bundle_pem: bytes
    spiffe_id: str
    serial: int
    not_after: float  # unix seconds
    key_pem: bytes = field(repr=False)


@dataclass(frozen=True)
class AgentSettings:
    """Which identity to ask for and where the join token is."""

    url: str
    identity: str
    token_file: Path | None  # read at every use, so the file can be refreshed
    token: str | None = field(default=None, repr=False)  # given on the command line instead
    backoff: Backoff = field(default_factory=Backoff)


Requester = Callable[[CsrRequest], Awaitable[CsrResponse]]
Install = Callable[[IssuedCertificate], None]


class CertificateAgent:
    """Fetches the first certificate, then keeps a fresh one installed until closed."""

    def __init__(
        self,
        settings: AgentSettings,
        install: Install,
        request: Requester,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.current: IssuedCertificate | None = None
        self.rotations = 0
        self.renewal_failures = 0
        self._install = install
        self._request = request
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> IssuedCertificate:
        """Get and install the first certificate, then start rotating it. Raises
        CertificateError (nothing installed, nothing running) if that fails."""
        issued = await self.renew()
        self._task = asyncio.get_running_loop().create_task(self._rotate())
        return issued

    def restore(
        self, chain_pem: bytes, key_pem: bytes, trust_bundle_pem: bytes
    ) -> IssuedCertificate:
        """Installs a certificate issued to this sidecar before it restarted (the control plane
        is down), then starts rotating it. Raises CertificateError if it is not for our
        identity or its key, or has expired."""
        try:
            key = serialization.load_pem_private_key(key_pem, password=None)
        except ValueError as exc:
            raise CertificateError(f"the saved key is unusable: {exc}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CertificateError("the saved key is not an EC key")
        answer = CsrResponse(
            chain_pem=chain_pem.decode(), trust_bundle_pem=trust_bundle_pem.decode(), expires_at=0
        )
        issued = self._check(answer, key)
        if issued.not_after <= self._clock():
            raise CertificateError("the saved certificate has expired")
        try:
            self._install(issued)
        except TlsMaterialError as exc:
            raise CertificateError(str(exc)) from None
        self.current = issued
        self._task = asyncio.get_running_loop().create_task(self._rotate())
        return issued

    async def renew(self) -> IssuedCertificate:
        """One round trip: new key, CSR, check, install. Raises CertificateError, leaving the
        current certificate installed."""
        key = ec.generate_private_key(ec.SECP256R1())
        answer = await self._ask(_csr_pem(key))
        issued = self._check(answer, key)
        try:
            self._install(issued)
        except TlsMaterialError as exc:
            raise CertificateError(str(exc)) from None
        self.current = issued
        return issued

    def seconds_left(self) -> float:
        """Seconds until the installed certificate expires (negative once it has); 0 if none."""
        return 0.0 if self.current is None else self.current.not_after - self._clock()

    async def close(self) -> None:
        """Stop rotating (cancels and awaits the task). Idempotent."""
        task, self._task = self._task, None
        await tasks.cancel([task])

    async def _ask(self, csr_pem: str) -> CsrResponse:
        """Renew with our current certificate as the credential (so a short-lived join token
        only has to bootstrap us); fall back to the join token if that is refused, and use the
        token for the first certificate."""
        if self.current is not None and self.current.not_after > self._clock():
            try:
                return await self._request(CsrRequest(csr_pem=csr_pem))
            except CertificateError as exc:
                if exc.status != 401:
                    raise
        return await self._request(CsrRequest(csr_pem=csr_pem, token=self._token()))

    def _token(self) -> str:
        if self.settings.token is not None or self.settings.token_file is None:
            return self.settings.token or ""
        try:
            token = self.settings.token_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise CertificateError(f"control_plane.token_file: cannot read: {exc}") from None
        if not token:
            raise CertificateError("control_plane.token_file: the file is empty")
        return token

    def _check(self, answer: CsrResponse, key: ec.EllipticCurvePrivateKey) -> IssuedCertificate:
        url, expected = self.settings.url, self.settings.identity
        try:
            leaf = x509.load_pem_x509_certificates(answer.chain_pem.encode())[0]
            x509.load_pem_x509_certificates(answer.trust_bundle_pem.encode())
            sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except (ValueError, x509.ExtensionNotFound) as exc:
            raise CertificateError(f"the control plane at {url} sent a bad chain: {exc}") from None
        uris = sans.get_values_for_type(x509.UniformResourceIdentifier)
        if uris != [expected]:
            got = ", ".join(uris) or "no SPIFFE ID"
            raise CertificateError(
                f"the control plane at {url} issued a certificate for {got}, but this sidecar's "
                f"identity is {expected}: the join token is for another workload"
            )
        if leaf.public_key() != key.public_key():
            raise CertificateError(f"the control plane at {url} certified a key that is not ours")
        return IssuedCertificate(
            chain_pem=answer.chain_pem.encode(),
            trust_bundle_pem=answer.trust_bundle_pem.encode(),
            spiffe_id=expected,
            serial=leaf.serial_number,
            not_after=leaf.not_valid_after_utc.timestamp(),
            key_pem=_key_pem(key),
        )

    def _renew_delay(self) -> float:
        half = self.seconds_left() / 2.0
        return max(0.0, half * (1.0 - RENEW_JITTER * self._rng()))

    async def _rotate(self) -> None:
        while True:
            await self._sleep(self._renew_delay())
            await self._renew_until_done()

    async def _renew_until_done(self) -> None:
        attempt = 0
        while True:
            try:
                issued = await self.renew()
            except Exception as exc:  # never let the rotation task die: retry on anything
                self.renewal_failures += 1
                delay = self.settings.backoff.delay(attempt, self._rng())
                attempt += 1
                log.warning("certificate renewal failed (retry in %.1fs): %s", delay, exc)
                await self._sleep(delay)
                continue
            self.rotations += 1
            log.info(
                "certificate rotated: serial %x, %.0fs left", issued.serial, self.seconds_left()
            )
            return


def _csr_pem(key: ec.EllipticCurvePrivateKey) -> str:
    # The CA takes the identity from the token and only the key from the CSR: no subject needed.
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class HttpsRequester:
    """Sends a CsrRequest to ``{url}/api/v1/certificates`` over HTTPS, trusting only the
    control plane's CA (``ca_file``) and checking its name against the URL's host."""

    def __init__(self, url: str, ca_file: Path, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        """Raises CertificateError if ``ca_file`` cannot be loaded."""
        try:
            self._ssl = ssl.create_default_context(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise CertificateError(f"control_plane.ca_file: cannot load {ca_file}: {exc}") from None
        # Which roots we trust for the control plane does not change when we present a
        # workload certificate: load_pem adds the mesh roots, which sign the control plane too.
        self.ssl = self._ssl
        self.url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def __call__(self, request: CsrRequest) -> CsrResponse:
        """The control plane's answer. Raises CertificateError naming the URL, and the HTTP
        status if there was one (401: the join token was refused)."""
        status, body = await self._post(msgspec.json.encode(request))
        where = f"the control plane at {self.url} answered HTTP {status}"
        if status == 401:
            reason = _reason_of(body)
            because = f" ({reason})" if reason else ""
            raise CertificateError(f"{where}: the join token was refused{because}", status)
        if status != 200:
            raise CertificateError(f"{where}: {_error_of(body)}", status)
        try:
            return msgspec.json.decode(body, type=CsrResponse)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise CertificateError(f"{where} with an invalid body: {exc}", status) from None

    async def _post(self, body: bytes) -> tuple[int, bytes]:
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.post(
                    f"{self.url}/api/v1/certificates",
                    data=body,
                    headers={"Content-Type": "application/json"},
                    ssl=self._ssl,
                ) as resp,
            ):
                answer = bytearray()
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    answer += chunk
                    if len(answer) > MAX_ANSWER_BYTES:
                        break
                return resp.status, bytes(answer)
        except aiohttp.ClientConnectorError as exc:
            detail = exc.strerror or type(exc.os_error).__name__
            raise CertificateError(
                f"cannot reach the control plane at {self.url}: {detail}"
            ) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            detail = str(exc) or type(exc).__name__
            raise CertificateError(
                f"cannot reach the control plane at {self.url}: {detail}"
            ) from None


def _reason_of(body: bytes) -> str:
    """The ``reason`` a refusal gives (a TokenReview's, say), shortened and printable, or ""."""
    try:
        reason = msgspec.json.decode(body, type=dict[str, str]).get("reason", "")
    except (msgspec.ValidationError, msgspec.DecodeError):
        return ""
    return reason[:200].encode("ascii", "backslashreplace").decode()


def _error_of(body: bytes) -> str:
    """The ``error`` field of a JSON error body, shortened and printable, else a placeholder."""
    try:
        error = msgspec.json.decode(body, type=dict[str, str]).get("error", "")
    except (msgspec.ValidationError, msgspec.DecodeError):
        error = ""
    return repr(error[:200]) if error else "no error message"
