"""``glassmesh run``: mesh an app you already have, without Kubernetes.

``glassmesh run --service NAME --port APP_PORT -- COMMAND...`` starts a sidecar in front of the
app's port (certificate, routing and registration from a running control plane), runs COMMAND
with HTTP_PROXY pointing at the sidecar's outbound listener (so ``http://<service>/...`` calls go
through the mesh), forwards SIGINT/SIGTERM/SIGHUP to it, stops the sidecar when it exits, and
exits with its exit code. The join token comes from ``--token-file``, or is made with the signing
key of a local control plane's ``--data-dir`` (which also holds the CA bundle).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

from controlplane.commands.client import DEFAULT_SERVER, CommandError, as_command
from controlplane.demo.procs import die_with_parent

TRUST_DOMAIN = "cluster.local"
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``run`` on the CLI's subcommands."""
    p = sub.add_parser("run", help="run a command with a sidecar in front of it (no Kubernetes)")
    p.add_argument("--service", required=True, help="the app's service name")
    p.add_argument("--port", type=int, required=True, help="the port the app listens on")
    p.add_argument("--namespace", default="default")
    p.add_argument("--service-account", help="the identity's service account (the service)")
    p.add_argument(
        "--control-plane",
        metavar="URL",
        help=f"the control plane (GLASSMESH_SERVER, default {DEFAULT_SERVER})",
    )
    p.add_argument("--token-file", help="the workload's join token")
    p.add_argument("--ca-file", help="the control plane's CA bundle")
    p.add_argument("--data-dir", help="a local control plane's data directory: token and CA")
    p.add_argument(
        "--otlp-endpoint",
        default=os.environ.get("GLASSMESH_OTLP_ENDPOINT"),
        help="the collector's OTLP/HTTP URL (GLASSMESH_OTLP_ENDPOINT)",
    )
    p.add_argument("--readiness-path", help="HTTP path probing the app (default: TCP connect)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    p.set_defaults(func=as_command("run", run))  # fmt: skip


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _credentials(args: argparse.Namespace, work: Path) -> tuple[Path, Path]:
    """(token file, CA file) from the options, or made from ``--data-dir``."""
    if args.token_file and args.ca_file:
        return Path(args.token_file).resolve(), Path(args.ca_file).resolve()
    if not args.data_dir:
        raise CommandError("give --token-file and --ca-file, or --data-dir", 2)
    from controlplane.tokens import TokenAuthority

    data = Path(args.data_dir)
    ca_file = Path(args.ca_file or data / "ca" / "ca.pem").resolve()
    if not ca_file.exists():
        raise CommandError(f"no CA bundle at {ca_file}: is --data-dir a control plane's?", 2)
    if args.token_file:
        return Path(args.token_file).resolve(), ca_file
    try:
        tokens = TokenAuthority.load_or_create(data, TRUST_DOMAIN)
        token = tokens.issue(args.namespace, args.service_account, 24 * 3600.0, time.time())
    except (ValueError, OSError) as exc:
        raise CommandError(f"--data-dir {data}: {exc}", 2) from None
    token_file = work / "join.token"
    token_file.write_text(token + "\n")
    return token_file, ca_file


def _sidecar_yaml(args: argparse.Namespace, ports: dict[str, int], creds: tuple[Path, Path]) -> str:
    server = args.control_plane or os.environ.get("GLASSMESH_SERVER") or DEFAULT_SERVER
    probe = f"{{path: {args.readiness_path}}}" if args.readiness_path else "{}"
    telemetry = f"{{otlp_endpoint: {args.otlp_endpoint}}}" if args.otlp_endpoint else "{}"
    return f"""service: {args.service}
identity: spiffe://{TRUST_DOMAIN}/ns/{args.namespace}/sa/{args.service_account}
namespace: {args.namespace}
labels: {{app: {args.service}}}
app: {{address: 127.0.0.1, port: {args.port}}}
readiness: {probe}
listeners:
  outbound: {{address: 127.0.0.1, port: {ports["outbound"]}}}
  inbound: {{address: 127.0.0.1, port: {ports["inbound"]}}}
  admin: {{address: 127.0.0.1, port: {ports["admin"]}}}
control_plane: {{url: {server}, token_file: {creds[0]}, ca_file: {creds[1]}}}
telemetry: {telemetry}
"""


def _wait_ready(sidecar: subprocess.Popen[bytes], admin_port: int, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if sidecar.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:]
            raise CommandError(f"the sidecar exited with {sidecar.returncode}:\n{tail}")
        url = f"http://127.0.0.1:{admin_port}/ready"
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(url, timeout=2),
        ):
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-1500:]
    raise CommandError(f"the sidecar was not ready within {READY_TIMEOUT_S:g}s:\n{tail}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _run_command(argv: list[str], env: dict[str, str]) -> int:
    """Run ``argv``, forwarding signals to it; its exit code (128 + N for a signal N)."""
    try:
        child = subprocess.Popen(argv, env=env)
    except OSError as exc:
        raise CommandError(f"cannot run {argv[0]}: {exc.strerror}", 127) from None

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in FORWARDED}
    try:
        code = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - code if code < 0 else code


def run(args: argparse.Namespace) -> int:
    """Start the sidecar, run the command, stop the sidecar; the command's exit code."""
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise CommandError("no command: glassmesh run --service S --port P -- COMMAND...", 2)
    if not 0 < args.port < 65536:
        raise CommandError(f"--port {args.port} is not a TCP port", 2)
    args.service_account = args.service_account or args.service
    with tempfile.TemporaryDirectory(prefix=f"glassmesh-run-{args.service}-") as tmp:
        work = Path(tmp)
        ports = {name: _free_port() for name in ("outbound", "inbound", "admin")}
        (work / "sidecar.yaml").write_text(_sidecar_yaml(args, ports, _credentials(args, work)))
        log = work / "sidecar.log"
        with log.open("wb") as out:
            sidecar = subprocess.Popen(
                [sys.executable, "-m", "controlplane.cli", "sidecar", "--config", "sidecar.yaml"],
                cwd=work, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 (no threads in this process)
            )  # fmt: skip
        try:
            _wait_ready(sidecar, ports["admin"], log)
            proxy = f"http://127.0.0.1:{ports['outbound']}"
            print(f"glassmesh run: {args.service} meshed: outbound {proxy}, inbound "
                  f"127.0.0.1:{ports['inbound']}, admin 127.0.0.1:{ports['admin']}",
                  file=sys.stderr, flush=True)  # fmt: skip
            env = {**os.environ, "HTTP_PROXY": proxy, "http_proxy": proxy}
            env["GLASSMESH_INBOUND"] = f"127.0.0.1:{ports['inbound']}"
            return _run_command(command, env)
        finally:
            _stop(sidecar)
