"""google.rpc messages (Status, RetryInfo) and codes, typed, without importing the untyped module.

googleapis-common-protos ships ``.pyi`` stubs but no ``py.typed`` marker, so a static
``from google.rpc import status_pb2`` is an untyped import under mypy --strict. The modules are
imported by name (which registers their descriptors) and the classes taken from the default
descriptor pool: typed as ``Message``, encoded and decoded exactly like the generated ones.
"""

from __future__ import annotations

import importlib

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

for _module in ("google.rpc.code_pb2", "google.rpc.status_pb2", "google.rpc.error_details_pb2"):
    importlib.import_module(_module)
_pool = descriptor_pool.Default()
Status: type[Message] = message_factory.GetMessageClass(
    _pool.FindMessageTypeByName("google.rpc.Status")
)
RetryInfo: type[Message] = message_factory.GetMessageClass(
    _pool.FindMessageTypeByName("google.rpc.RetryInfo")
)
_codes = _pool.FindEnumTypeByName("google.rpc.Code").values_by_name
INVALID_ARGUMENT: int = _codes["INVALID_ARGUMENT"].number  # 3
RESOURCE_EXHAUSTED: int = _codes["RESOURCE_EXHAUSTED"].number  # 8
UNAVAILABLE: int = _codes["UNAVAILABLE"].number  # 14


def status_message(data: bytes) -> str:
    """The ``message`` of an encoded google.rpc.Status; "" when ``data`` is not one."""
    try:
        status = Status.FromString(data)
    except DecodeError:
        return ""
    return str(getattr(status, "message", ""))
