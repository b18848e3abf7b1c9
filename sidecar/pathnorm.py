"""Request path normalization, done once per request so routing, authorization and the app all
see the same path.

As Envoy's ``normalize_path`` plus ``merge_slashes``, with Istio's rejection of encoded
separators: percent-encoded unreserved characters (RFC 3986: letters, digits, ``-._~``) are
decoded, other escapes upper-cased; runs of slashes merge; ``.`` and ``..`` segments are resolved
(never above the root). An encoded slash or backslash (``%2F``, ``%5C``), a raw backslash, or a
malformed escape is refused: such a path means different things to different servers.

``authz_path`` also drops path parameters (``/admin;x`` -> ``/admin``), which some app servers
ignore: a DENY on ``/admin`` must not be escaped with ``;``.
"""

from __future__ import annotations

_HEX = b"0123456789ABCDEFabcdef"
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class BadPath(ValueError):
    """The path cannot be normalized safely; the request gets a 400."""


def normalize(path: bytes) -> bytes:
    """The normalized form of an origin-form ``path`` (its query string kept as sent).
    Raises BadPath."""
    cut = path.find(b"?")
    bare, query = (path, b"") if cut < 0 else (path[:cut], path[cut:])
    if b"%" not in bare and b"/." not in bare and b"//" not in bare and b"\\" not in bare:
        return path  # the common case: nothing to do
    decoded = _decode_unreserved(bare)
    segments: list[bytes] = []
    for segment in decoded.split(b"/")[1:]:
        if segment == b"..":
            if segments:
                segments.pop()
        elif segment not in (b".", b""):
            segments.append(segment)
    trailing = decoded.endswith((b"/", b"/.", b"/..")) and bool(segments)
    return b"/" + b"/".join(segments) + (b"/" if trailing else b"") + query


def _decode_unreserved(bare: bytes) -> bytes:
    if b"\\" in bare:
        raise BadPath("a backslash in the path")
    if b"%" not in bare:
        return bare
    out = bytearray()
    i, size = 0, len(bare)
    while i < size:
        byte = bare[i]
        if byte != 37:  # "%"
            out.append(byte)
            i += 1
            continue
        pair = bare[i + 1 : i + 3]
        if len(pair) != 2 or pair[0] not in _HEX or pair[1] not in _HEX:
            raise BadPath("a malformed percent-escape in the path")
        value = int(pair, 16)
        if value in (0x2F, 0x5C):
            raise BadPath("an encoded slash or backslash in the path")
        if value in _UNRESERVED:
            out.append(value)
        else:
            out += b"%" + pair.upper()
        i += 3
    return bytes(out)


def authz_path(normalized: bytes) -> bytes:
    """What authorization matches: the normalized path without query and path parameters."""
    cut = normalized.find(b"?")
    bare = normalized if cut < 0 else normalized[:cut]
    if b";" not in bare:
        return bare
    return b"/".join(segment.split(b";", 1)[0] for segment in bare.split(b"/"))
