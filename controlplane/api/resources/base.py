"""What every resource kind shares: the envelope, field types, durations and regex checks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Final, Literal

import msgspec

GATEWAY_V1: Final = "gateway.networking.k8s.io/v1"
GLASSMESH_V1ALPHA1: Final = "glassmesh.io/v1alpha1"
ROOT_NAMESPACE = "glassmesh-system"  # a selector-less PeerAuthentication here is mesh-wide
MAX_REGEX_BYTES = 1024
# Gateway API durations (GEP-2257): up to four <number><unit> parts, e.g. 10s, 500ms, 1h30m.
DURATION_PATTERN = r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"
_DURATION_PART = re.compile(r"([0-9]{1,5})(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}

Duration = Annotated[str, msgspec.Meta(pattern=DURATION_PATTERN, examples=["10s", "500ms"])]
Name = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")]
Namespace = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
HeaderName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,256}$")]
Hostname = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    ),
]
HeaderValue = Annotated[str, msgspec.Meta(pattern=r"^[^\r\n\x00]{0,4096}$")]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
Count = Annotated[int, msgspec.Meta(ge=0)]
Labels = dict[str, str]
Method = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]


class ResourceError(ValueError):
    """A resource is invalid: ``path`` is the JSON path of the field at fault ("" for the root)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every user-written struct."""


def parse_duration(text: str) -> float:
    """Seconds in a Gateway API duration such as ``1h30m`` or ``500ms``; raises ValueError."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"{text!r} is not a duration like 10s, 500ms or 1h30m")
    return sum(int(n) * _UNIT_S[unit] for n, unit in _DURATION_PART.findall(text))


def _regex_tokens(pattern: str) -> Iterator[str]:
    """Yields "(", ")", "Q" (a repeat: *, + or {m,n}) and "x" (anything else) of a pattern."""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 1
        elif ch == "[":  # a character class: skip to its closing bracket
            close = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("]", "^") else i + 1)
            i = len(pattern) if close < 0 else close
        elif ch == "{" and (m := re.match(r"\{(\d+,?\d*|,\d+)\}", pattern[i:])):
            i += len(m[0]) - 1
            ch = "Q"
        yield {"(": "(", ")": ")", "*": "Q", "+": "Q", "Q": "Q"}.get(ch, "x")
        i += 1


def _has_nested_quantifier(pattern: str) -> bool:
    """Whether a repeated group itself repeats, like ``(a+)+``: a catastrophic-backtracking risk."""
    repeats = [False]  # per open group: does it contain a repeat?
    closed_repeating = False  # the previous token closed a group that contains a repeat
    for token in _regex_tokens(pattern):
        if token == "Q" and closed_repeating:
            return True
        closed_repeating = False
        if token == "(":
            repeats.append(False)
        elif token == ")" and len(repeats) > 1:
            closed_repeating = repeats.pop()
            repeats[-1] = repeats[-1] or closed_repeating
        elif token == "Q":
            repeats[-1] = True
    return False


def check_regex(pattern: str) -> None:
    """Raises ValueError unless ``pattern`` compiles, is short and has no nested repeats."""
    if len(pattern.encode()) > MAX_REGEX_BYTES:
        raise ValueError(f"regular expression is longer than {MAX_REGEX_BYTES} bytes")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    if _has_nested_quantifier(pattern):
        raise ValueError("nested quantifier (like (a+)+) risks catastrophic backtracking")


def exactly_one(struct: msgspec.Struct, fields: tuple[str, ...]) -> None:
    """Raises ValueError, naming the first field, unless exactly one of ``fields`` is set."""
    if sum(getattr(struct, f) is not None for f in fields) != 1:
        raise ValueError(f"{fields[0]}: set exactly one of {', '.join(fields)}")


class Metadata(Config, frozen=True):
    """Kubernetes object metadata; resourceVersion and creationTimestamp are set by the server."""

    name: Name
    namespace: Namespace = "default"
    labels: Labels = {}
    annotations: Labels = {}
    resourceVersion: str | None = None
    creationTimestamp: str | None = None


class Resource(Config, frozen=True):
    """Base of every kind: the Kubernetes envelope."""

    apiVersion: str
    kind: str
    metadata: Metadata

    def key(self) -> tuple[str, str, str]:
        """Returns (kind, namespace, name), which identifies a stored resource."""
        return (self.kind, self.metadata.namespace, self.metadata.name)


class Selector(Config, frozen=True):
    """Selects workloads by their labels; no selector means every workload of the namespace."""

    matchLabels: Labels = {}
