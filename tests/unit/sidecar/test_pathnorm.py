"""Path normalization: what routing, authorization and the app all see."""

from __future__ import annotations

import pytest

from sidecar.pathnorm import BadPath, authz_path, normalize


@pytest.mark.parametrize(
    ("sent", "seen"),
    [
        (b"/reviews/1", b"/reviews/1"),
        (b"/admin/../admin", b"/admin"),
        (b"//admin", b"/admin"),
        (b"/a/./b//c/", b"/a/b/c/"),
        (b"/%61dmin", b"/admin"),
        (b"/a%7eb%2d", b"/a~b-"),
        (b"/x%3ay", b"/x%3Ay"),  # reserved: kept encoded, in upper case
        (b"/../../etc/passwd", b"/etc/passwd"),  # never above the root
        (b"/a/..", b"/"),
        (b"/a/b/..?q=/../x", b"/a/?q=/../x"),  # RFC 3986 5.2.4; the query is left as sent
        (b"/", b"/"),
    ],
)
def test_paths_are_normalized_once(sent: bytes, seen: bytes) -> None:
    assert normalize(sent) == seen


@pytest.mark.parametrize("sent", [b"/admin%2F", b"/a%2fb", b"/a%5Cb", b"/a\\b", b"/a%zz", b"/a%4"])
def test_encoded_separators_and_bad_escapes_are_refused(sent: bytes) -> None:
    with pytest.raises(BadPath):
        normalize(sent)


def test_authorization_ignores_path_parameters_and_the_query() -> None:
    assert authz_path(b"/admin;x") == b"/admin"
    assert authz_path(b"/a;v=1/b;c?x=;y") == b"/a/b"
    assert authz_path(b"/plain?q") == b"/plain"
