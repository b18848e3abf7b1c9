"""What every CLI command that talks to the control plane's API shares: the connection options
(``--server``, ``--token-file``, ``--ca-file`` or GLASSMESH_SERVER / GLASSMESH_TOKEN), one JSON
request with the server's error turned into a message, and exit codes (1 for a server error, 2
for a problem with local files or arguments).
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_SERVER = "https://127.0.0.1:15012"
Command = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    """What went wrong, worded for the user; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1, index: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.index = index  # which document of an apply the server refused


def connection_options() -> argparse.ArgumentParser:
    """A parent parser with the options that say which API to talk to and how."""
    conn = argparse.ArgumentParser(add_help=False)
    conn.add_argument("--server", help=f"API URL (GLASSMESH_SERVER, default {DEFAULT_SERVER})")
    conn.add_argument("--token-file", help="file holding the API token (else GLASSMESH_TOKEN)")
    conn.add_argument("--ca-file", help="PEM bundle to verify the server with")
    return conn


def as_command(name: str, run: Command) -> Command:
    """Wraps a command so a CommandError is printed to stderr and becomes its exit status."""

    def command(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except CommandError as exc:
            print(f"glassmesh {name}: {exc}", file=sys.stderr)
            return exc.code

    return command


def _token(args: argparse.Namespace) -> str | None:
    if args.token_file:
        try:
            return Path(args.token_file).read_text().strip()
        except OSError as exc:
            raise CommandError(f"cannot read {args.token_file}: {exc.strerror}", 2) from None
    return os.environ.get("GLASSMESH_TOKEN")


def _server_error(body: bytes, status: int) -> CommandError:
    """Returns the error an API answer describes: its message, path and document index."""
    try:
        error = json.loads(body)
        message = f"{error['path']}: {error['error']}" if error.get("path") else error["error"]
        index = error.get("index")
    except (ValueError, KeyError, TypeError, AttributeError):
        return CommandError(f"HTTP {status}")
    return CommandError(str(message), index=index if isinstance(index, int) else None)


def _server(args: argparse.Namespace) -> str:
    server = args.server or os.environ.get("GLASSMESH_SERVER") or DEFAULT_SERVER
    if not server.startswith(("http://", "https://")):
        raise CommandError(f"--server {server!r} is not an http:// or https:// URL", 2)
    return str(server).rstrip("/")


def _tls_context(args: argparse.Namespace, server: str) -> ssl.SSLContext | None:
    if not server.startswith("https:"):
        return None
    try:
        return ssl.create_default_context(cafile=args.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise CommandError(f"cannot use --ca-file {args.ca_file}: {exc}", 2) from None


def request(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    """Sends one request to the API; returns the decoded JSON answer.

    Raises CommandError with the server's message and path for an error answer.
    """
    server = _server(args)
    headers = {"Content-Type": "application/json"}
    if token := _token(args):
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(server + path, data, headers, method=method)
    context = _tls_context(args, server)
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise _server_error(exc.read(), exc.code) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CommandError(f"cannot reach {server}: {reason}") from None
