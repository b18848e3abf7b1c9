"""Workload identity from a projected service-account token, checked with a TokenReview.

A pod's sidecar presents the token the kubelet projects for audience ``glassmesh`` as its CSR's
credential. We ask the API server (``POST /apis/authentication.k8s.io/v1/tokenreviews`` with
``spec.audiences = [glassmesh]``) whether it is genuine, unexpired, bound to a live pod and meant
for us; the reviewed user ``system:serviceaccount:<ns>:<sa>`` becomes
``spiffe://<trust-domain>/ns/<ns>/sa/<sa>``. A token for another audience (the default API
token, say) is refused, so a token stolen from one system cannot be replayed at another.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from kubernetes_asyncio.client import AuthenticationV1Api, V1TokenReview, V1TokenReviewSpec

from controlplane.api.identity import InvalidSpiffeId, spiffe_id
from controlplane.kubernetes import ReviewUnavailable, TokenRejected
from controlplane.kubernetes.watch import WatchError, raw_response

SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
MAX_TOKEN_CHARS = 16 * 1024
REVIEW_TIMEOUT_S = 10.0


def identity_of(status: dict[str, Any], audience: str, trust_domain: str) -> str:
    """The SPIFFE ID a TokenReview's ``status`` grants; raises TokenRejected saying why not."""
    if status.get("authenticated") is not True:
        reason = str(status.get("error") or "the token is not valid")[:200]
        raise TokenRejected(f"the API server did not authenticate the token: {reason}")
    audiences = status.get("audiences")
    if isinstance(audiences, list) and audience not in audiences:
        raise TokenRejected(f"the token is not for audience {audience!r}")
    username = str((status.get("user") or {}).get("username") or "")
    if not username.startswith(SERVICE_ACCOUNT_PREFIX):
        raise TokenRejected(f"user {username[:100]!r} is not a service account")
    namespace, _, account = username.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
    try:
        return spiffe_id(trust_domain, namespace, account)
    except InvalidSpiffeId as exc:
        raise TokenRejected(f"service account {username[:100]!r}: {exc}") from None


async def review(api: AuthenticationV1Api, token: str, audience: str, trust_domain: str) -> str:
    """The SPIFFE ID ``token`` proves. Raises TokenRejected for a token the API server (or we)
    refuse, ReviewUnavailable when the API server cannot be asked."""
    if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii() or token.count(".") != 2:
        raise TokenRejected("not a service-account token (a JWT)")
    body = V1TokenReview(
        api_version="authentication.k8s.io/v1",
        kind="TokenReview",
        spec=V1TokenReviewSpec(token=token, audiences=[audience]),
    )
    try:
        call = api.create_token_review(
            body, _preload_content=False, _request_timeout=REVIEW_TIMEOUT_S
        )
        async with await raw_response(call) as response:
            answer = await response.json(content_type=None)
    except (WatchError, aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        raise ReviewUnavailable(f"TokenReview failed: {exc}") from None
    status = answer.get("status") if isinstance(answer, dict) else None
    if not isinstance(status, dict):
        raise ReviewUnavailable("TokenReview answer without a status")
    return identity_of(status, audience, trust_domain)
