"""The mesh certificate authority: a root or intermediate CA, CSR signing and trust bundles.

A root we create is EC P-256 and lives 10 years; an operator may instead hand us a root or an
intermediate (``load_authority``). A workload certificate carries exactly one URI SAN, the
workload's SPIFFE ID, is valid for TLS client and server use, and lives 24 hours by default.
When signing a CSR, the identity comes from the caller's credential; the CSR gives only its key.
"""

from controlplane.ca.authority import (
    CLOCK_SKEW,
    MAX_WORKLOAD_LIFETIME,
    ROOT_LIFETIME,
    WORKLOAD_LIFETIME,
    Authority,
    AuthorityError,
    IssuedCert,
    IssuedChain,
    TrustBundle,
    create_root,
    issue_serving,
    issue_workload,
)
from controlplane.ca.csr import MAX_CSR_BYTES, CsrRejected, sign_csr
from controlplane.ca.files import load_authority, load_or_create_root, write_workload

__all__ = [
    "CLOCK_SKEW",
    "MAX_CSR_BYTES",
    "MAX_WORKLOAD_LIFETIME",
    "ROOT_LIFETIME",
    "WORKLOAD_LIFETIME",
    "Authority",
    "AuthorityError",
    "CsrRejected",
    "IssuedCert",
    "IssuedChain",
    "TrustBundle",
    "create_root",
    "issue_serving",
    "issue_workload",
    "load_authority",
    "load_or_create_root",
    "sign_csr",
    "write_workload",
]
