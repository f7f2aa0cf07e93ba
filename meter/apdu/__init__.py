"""Layer 2: xDLMS and ACSE APDUs as frozen dataclasses (Green Book 9.3 and 9.5).

``decode_apdu(data)`` turns any supported APDU into its class; every class has ``to_bytes()``.
"""

from meter.apdu.acse import (
    AARE,
    AARQ,
    RLRE,
    RLRQ,
    UNKNOWN_OID,
    AcseServiceProvider,
    AcseServiceUser,
    ApplicationContextName,
    AssociationResult,
    DiagnosticSource,
    MechanismName,
    ReleaseRequestReason,
    ReleaseResponseReason,
)
from meter.apdu.action import (
    ActionOutcome,
    ActionRequestNextPBlock,
    ActionRequestNormal,
    ActionRequestWithFirstPBlock,
    ActionRequestWithList,
    ActionRequestWithListAndFirstPBlock,
    ActionRequestWithPBlock,
    ActionResponseNextPBlock,
    ActionResponseNormal,
    ActionResponseWithList,
    ActionResponseWithPBlock,
)
from meter.apdu.ciphered import (
    AgreedKey,
    CipheredApdu,
    GeneralBlockTransfer,
    GeneralCiphering,
    GeneralDedCiphering,
    GeneralGloCiphering,
    GeneralSigning,
    IdentifiedKey,
    KeyInfo,
    WrappedKey,
    ciphered_bytes,
    ciphered_tag_for,
    is_global,
    plain_tag_for,
)
from meter.apdu.common import (
    AttributeWithSelection,
    CosemAttributeDescriptor,
    CosemMethodDescriptor,
    GetDataResult,
    SelectiveAccess,
)
from meter.apdu.describe import describe
from meter.apdu.errors import (
    ConfirmedServiceKind,
    ConfirmedServiceError,
    ExceptionResponse,
    InitiateError,
    ServiceError,
    ServiceErrorKind,
    StateError,
)
from meter.apdu.get import (
    GetRequestNext,
    GetRequestNormal,
    GetRequestWithList,
    GetResponseNormal,
    GetResponseWithDataBlock,
    GetResponseWithList,
)
from meter.apdu.initiate import VAA_NAME_LN, Conformance, InitiateRequest, InitiateResponse
from meter.apdu.notification import DataNotification, EventNotificationRequest
from meter.apdu.registry import Apdu, UnknownApdu, decode_apdu, known_tags
from meter.apdu.set import (
    SetRequestNormal,
    SetRequestWithDataBlock,
    SetRequestWithFirstDataBlock,
    SetRequestWithList,
    SetRequestWithListAndFirstDataBlock,
    SetResponseDataBlock,
    SetResponseLastDataBlock,
    SetResponseLastDataBlockWithList,
    SetResponseNormal,
    SetResponseWithList,
)

__all__ = [
    "AARE", "AARQ", "RLRE", "RLRQ", "UNKNOWN_OID", "AcseServiceProvider",
    "AcseServiceUser", "ApplicationContextName", "AssociationResult",
    "DiagnosticSource", "MechanismName", "ReleaseRequestReason", "ReleaseResponseReason",
    "ActionOutcome", "ActionRequestNextPBlock", "ActionRequestNormal",
    "ActionRequestWithFirstPBlock", "ActionRequestWithList", "ActionRequestWithListAndFirstPBlock",
    "ActionRequestWithPBlock", "ActionResponseNextPBlock", "ActionResponseNormal",
    "ActionResponseWithList", "ActionResponseWithPBlock",
    "AgreedKey", "CipheredApdu", "GeneralBlockTransfer", "GeneralCiphering",
    "GeneralDedCiphering", "GeneralGloCiphering", "GeneralSigning", "IdentifiedKey", "KeyInfo",
    "WrappedKey", "ciphered_bytes", "ciphered_tag_for", "is_global", "plain_tag_for",
    "AttributeWithSelection", "CosemAttributeDescriptor", "CosemMethodDescriptor",
    "GetDataResult", "SelectiveAccess", "describe",
    "ConfirmedServiceKind", "ConfirmedServiceError", "ExceptionResponse", "InitiateError",
    "ServiceError", "ServiceErrorKind", "StateError",
    "GetRequestNext", "GetRequestNormal", "GetRequestWithList", "GetResponseNormal",
    "GetResponseWithDataBlock", "GetResponseWithList",
    "VAA_NAME_LN", "Conformance", "InitiateRequest", "InitiateResponse",
    "DataNotification", "EventNotificationRequest",
    "Apdu", "KNOWN_TAGS", "UnknownApdu", "decode_apdu", "known_tags",
    "SetRequestNormal", "SetRequestWithDataBlock", "SetRequestWithFirstDataBlock",
    "SetRequestWithList", "SetRequestWithListAndFirstDataBlock", "SetResponseDataBlock",
    "SetResponseLastDataBlock", "SetResponseLastDataBlockWithList", "SetResponseNormal",
    "SetResponseWithList",
]

#: Every first octet decode_apdu understands (all APDU modules are imported above).
KNOWN_TAGS: frozenset[int] = known_tags()
