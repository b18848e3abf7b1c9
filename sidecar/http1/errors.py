"""Errors of the HTTP/1 codec."""

from __future__ import annotations


class ProtocolError(Exception):
    """The peer sent bytes that are not acceptable HTTP/1.1: the peer's fault, not ours.

    ``status`` is what to answer (400, 414, 417, 431; 502 for a bad upstream response); the
    connection must close after answering.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
