"""xDLMS error APDUs (Green Book 9.5): ExceptionResponse [216] and ConfirmedServiceError [14].

Fields stay raw ints so that any value a peer sends can be decoded and echoed; the IntEnums below
name the standard values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

from meter.apdu.registry import Apdu
from meter.codec.buffer import Reader, Writer
from meter.errors import EncodeError


class StateError(enum.IntEnum):
    SERVICE_NOT_ALLOWED = 1
    SERVICE_UNKNOWN = 2


class ServiceError(enum.IntEnum):
    """ExceptionResponse service-error CHOICE."""

    OPERATION_NOT_POSSIBLE = 1
    SERVICE_NOT_SUPPORTED = 2
    OTHER_REASON = 3
    PDU_TOO_LONG = 4
    DECIPHERING_ERROR = 5
    INVOCATION_COUNTER_ERROR = 6  # carries the expected invocation counter (Unsigned32)


class ConfirmedServiceKind(enum.IntEnum):
    """ConfirmedServiceError CHOICE: which service failed."""

    INITIATE_ERROR = 1
    GET_STATUS = 2
    GET_NAME_LIST = 3
    GET_VARIABLE_ATTRIBUTE = 4
    READ = 5
    WRITE = 6
    GET_DATA_SET_ATTRIBUTE = 7
    GET_TI_ATTRIBUTE = 8
    CHANGE_SCOPE = 9
    START = 10
    STOP = 11
    RESUME = 12
    MAKE_USABLE = 13
    INITIATE_LOAD = 14
    LOAD_SEGMENT = 15
    TERMINATE_LOAD = 16
    INITIATE_UPLOAD = 17
    UPLOAD_SEGMENT = 18
    TERMINATE_UPLOAD = 19


class ServiceErrorKind(enum.IntEnum):
    """ServiceError CHOICE: the error family."""

    APPLICATION_REFERENCE = 0
    HARDWARE_RESOURCE = 1
    VDE_STATE_ERROR = 2
    SERVICE = 3
    DEFINITION = 4
    ACCESS = 5
    INITIATE = 6
    LOAD_DATA_SET = 7
    CHANGE_SCOPE = 8
    TASK = 9
    OTHER = 10


class InitiateError(enum.IntEnum):
    """Values of ServiceError initiate [6]."""

    OTHER = 0
    DLMS_VERSION_TOO_LOW = 1
    INCOMPATIBLE_CONFORMANCE = 2
    PDU_SIZE_TOO_SHORT = 3
    REFUSED_BY_THE_VDE_HANDLER = 4


@dataclass(frozen=True, slots=True)
class ExceptionResponse(Apdu):
    TAG: ClassVar[int] = 0xD8
    state_error: int
    service_error: int
    invocation_counter: int | None = None

    def __post_init__(self) -> None:
        needs_ic = self.service_error == ServiceError.INVOCATION_COUNTER_ERROR
        if needs_ic != (self.invocation_counter is not None):
            raise EncodeError("invocation_counter goes with service_error 6 only")

    def encode_body(self, w: Writer) -> None:
        w.u8(self.state_error)
        w.u8(self.service_error)
        if self.invocation_counter is not None:
            w.u32(self.invocation_counter)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> ExceptionResponse:
        state, service = r.u8(), r.u8()
        ic = r.u32() if service == ServiceError.INVOCATION_COUNTER_ERROR else None
        return cls(state, service, ic)


@dataclass(frozen=True, slots=True)
class ConfirmedServiceError(Apdu):
    TAG: ClassVar[int] = 0x0E
    service: int
    error_type: int
    error_value: int

    def encode_body(self, w: Writer) -> None:
        w.u8(self.service)
        w.u8(self.error_type)
        w.u8(self.error_value)

    @classmethod
    def decode_body(cls, r: Reader, tag: int) -> ConfirmedServiceError:
        return cls(r.u8(), r.u8(), r.u8())
