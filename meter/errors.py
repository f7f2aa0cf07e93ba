"""One error tree for the whole meter; each error carries the wire code it maps to.

Codecs raise DecodeError/EncodeError only. Protocol cores raise LocalProtocolError for what we
would do wrong and RemoteProtocolError for what the peer did wrong. The xDLMS service layer is
the one place that turns AccessError into a data-access-result on the wire.
"""

from __future__ import annotations

import enum


class DataAccessResult(enum.IntEnum):
    """Green Book Data-Access-Result (GET/SET/ACTION results)."""

    SUCCESS = 0
    HARDWARE_FAULT = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    OBJECT_CLASS_INCONSISTENT = 9
    OBJECT_UNAVAILABLE = 11
    TYPE_UNMATCHED = 12
    SCOPE_OF_ACCESS_VIOLATED = 13
    DATA_BLOCK_UNAVAILABLE = 14
    LONG_GET_ABORTED = 15
    NO_LONG_GET_IN_PROGRESS = 16
    LONG_SET_ABORTED = 17
    NO_LONG_SET_IN_PROGRESS = 18
    DATA_BLOCK_NUMBER_INVALID = 19
    OTHER_REASON = 250


class ActionResult(enum.IntEnum):
    """Green Book Action-Result (ACTION responses)."""

    SUCCESS = 0
    HARDWARE_FAULT = 1
    TEMPORARY_FAILURE = 2
    READ_WRITE_DENIED = 3
    OBJECT_UNDEFINED = 4
    OBJECT_CLASS_INCONSISTENT = 9
    OBJECT_UNAVAILABLE = 11
    TYPE_UNMATCHED = 12
    SCOPE_OF_ACCESS_VIOLATED = 13
    DATA_BLOCK_UNAVAILABLE = 14
    LONG_ACTION_ABORTED = 15
    NO_LONG_ACTION_IN_PROGRESS = 16
    OTHER_REASON = 250


class MeterError(Exception):
    """Root of every error the meter raises on purpose."""


class DecodeError(MeterError):
    """Bytes from the wire (or a store) that do not decode. The only error a decoder raises."""


class EncodeError(MeterError):
    """A value that cannot be put on the wire (out of range, wrong type)."""


class LocalProtocolError(MeterError):
    """We were asked to do something the protocol does not allow in the current state."""


class RemoteProtocolError(MeterError):
    """The peer broke the protocol; the core answers with the protocol's own error."""


class SecurityError(MeterError):
    """Authentication or decryption failed, or a security policy was not met."""


class StoreError(MeterError):
    """The state store cannot be opened, read or written, or what it holds is corrupt. Defined
    here (raised by meter.persistence) so the service layer can answer a failed commit."""


class AccessError(MeterError):
    """A COSEM attribute or method access that fails with a wire result code."""

    def __init__(self, result: DataAccessResult, message: str = "") -> None:
        super().__init__(message or result.name.lower().replace("_", "-"))
        self.result = result
