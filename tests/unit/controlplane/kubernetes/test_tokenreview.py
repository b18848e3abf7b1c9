"""What a TokenReview's answer proves, and why a token is refused."""

from __future__ import annotations

import pytest

from controlplane.kubernetes import TokenRejected
from controlplane.kubernetes.tokenreview import identity_of


def reviewed(username: str, audiences: list[str] | None = None) -> dict[str, object]:
    status: dict[str, object] = {"authenticated": True, "user": {"username": username}}
    if audiences is not None:
        status["audiences"] = audiences
    return status


def test_a_service_account_becomes_its_spiffe_id() -> None:
    status = reviewed("system:serviceaccount:shop:web", ["glassmesh"])
    assert (
        identity_of(status, "glassmesh", "mesh.example") == "spiffe://mesh.example/ns/shop/sa/web"
    )


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ({"authenticated": False, "error": "token expired"}, "token expired"),
        ({}, "not valid"),
        (reviewed("system:serviceaccount:shop:web", ["vault"]), "not for audience 'glassmesh'"),
        (reviewed("alice"), "is not a service account"),
        (reviewed("system:serviceaccount:Shop:web"), "not a DNS label"),
    ],
)
def test_a_refusal_says_why(status: dict[str, object], reason: str) -> None:
    with pytest.raises(TokenRejected, match=reason):
        identity_of(status, "glassmesh", "cluster.local")
