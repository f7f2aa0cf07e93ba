"""Image transfer (class_id 18, version 0; Blue Book §4.4.6 "Image transfer").

Attributes (cosem-reference.md §2.2): 2 image_block_size dlu; 3 image_transferred_blocks_status
bit-string (bit n = block n received); 4 image_first_not_transferred_block_number dlu; 5
image_transfer_enabled boolean; 6 image_transfer_status enum; 7 image_to_activate_info array of
{size dlu, identification octet-string, signature octet-string}. Methods 1
image_transfer_initiate({identifier octet-string, size dlu}), 2 image_block_transfer({number
dlu, value octet-string}), 3 image_verify(int0), 4 image_activate(int0).

Rules (ours where the Blue Book leaves it to the meter):

1. initiate and block transfer need image_transfer_enabled (else read-write-denied); initiate
   needs 1 <= size <= ``max_image_size`` ([limits] max_image_bytes). The same identifier and
   size as the image held and not yet activated RESUMES it: the blocks received so far are
   kept (a head end resumes after a dropped connection or a restart by reading attribute 3 or
   4). Anything else starts afresh.
2. A block is accepted while an image is held and not activated: its number below
   ceil(size / block_size), its length block_size (the last block: the rest). A block makes the
   status "initiated" again (what was verified may have changed).
3. verify checks every block is there and hands the image to ``verifier`` (the device's: an
   ECDSA signature under the manufacturer key, meter/security/firmware_image.py). Success:
   status 3, image_to_activate_info filled, standard event 17. Failure: status 4, event 51,
   other-reason. Verification runs within the call, so status 2 (and 5 in activate) pass
   within it: a client never has to poll.
4. activate verifies the image again (an unverified one is verified then, Blue Book; a block
   changed since is caught), then writes the image's version to the active firmware identifier
   1.0.0.2.0.255 and its signature to 1.0.0.2.8.255, status 6, event 18. An image that fails
   gives status 7 (activation failed), other-reason.

Blocks are kept by an :class:`ImageBlocks` (in memory here; the device gives one backed by the
store, so a transfer survives a restart); the image's identifier and size are private state.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from meter.codec.axdr import (
    Array, BitString, Boolean, Data, DoubleLongUnsigned, Enum, OctetString, Structure)
from meter.codec.obis import Obis
from meter.cosem.base import (
    Attr, Context, CosemObject, Method, expect, fields, integer, on_action, on_get, on_set)
from meter.cosem.events import StandardEvent
from meter.cosem.names import ACTIVE_FIRMWARE_ID, ACTIVE_FIRMWARE_SIGNATURE
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.errors import AccessError, DataAccessResult, MeterError

log = logging.getLogger(__name__)

#: Default [limits] max_image_bytes.
MAX_IMAGE_BYTES = 1 << 20
MAX_IDENTIFIER_BYTES = 255
#: Default image_block_size: one block per ACTION within the meter's 1024-byte PDU.
BLOCK_SIZE = 512


class TransferStatus(enum.IntEnum):
    """image_transfer_status (Blue Book; cosem-reference.md §2.2)."""

    NOT_INITIATED = 0
    INITIATED = 1
    VERIFICATION_INITIATED = 2
    VERIFICATION_SUCCESSFUL = 3
    VERIFICATION_FAILED = 4
    ACTIVATION_INITIATED = 5
    ACTIVATION_SUCCESSFUL = 6
    ACTIVATION_FAILED = 7


#: Statuses in which no image is open for blocks, verification or activation.
_CLOSED = (TransferStatus.NOT_INITIATED, TransferStatus.ACTIVATION_SUCCESSFUL)


@dataclass(frozen=True, slots=True)
class VerifiedImage:
    """What verification found in an image: the firmware it activates as, and its signature."""

    identification: bytes
    signature: bytes


#: Checks a complete image; raises MeterError saying why it is refused.
Verifier = Callable[[bytes], VerifiedImage]


class ImageBlocks(Protocol):
    """The blocks of the image being transferred, by block number."""

    def numbers(self) -> Iterable[int]: ...

    def get(self, number: int) -> bytes | None: ...

    def put(self, number: int, block: bytes) -> None: ...

    def clear(self) -> None: ...


class MemoryImageBlocks:
    """Blocks in memory (the device's subclass mirrors them into the store)."""

    def __init__(self) -> None:
        self._blocks: dict[int, bytes] = {}

    def numbers(self) -> Iterable[int]:
        return self._blocks.keys()

    def get(self, number: int) -> bytes | None:
        return self._blocks.get(number)

    def put(self, number: int, block: bytes) -> None:
        self._blocks[number] = block

    def clear(self) -> None:
        self._blocks.clear()


def _refused(why: str) -> AccessError:
    return AccessError(DataAccessResult.OTHER_REASON, why)


class ImageTransfer(CosemObject):
    CLASS_ID = 18
    VERSION = 0
    NAME = "image_transfer"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "image_block_size", DoubleLongUnsigned, default=DoubleLongUnsigned(BLOCK_SIZE)),
        Attr(3, "image_transferred_blocks_status", BitString, static=False),
        Attr(4, "image_first_not_transferred_block_number", DoubleLongUnsigned, static=False),
        Attr(5, "image_transfer_enabled", Boolean, default=Boolean(True)),
        Attr(6, "image_transfer_status", Enum, static=False, default=Enum(0)),
        Attr(7, "image_to_activate_info", Array, static=False, default=Array(())),
    )
    METHODS = (Method(1, "image_transfer_initiate"), Method(2, "image_block_transfer"),
               Method(3, "image_verify"), Method(4, "image_activate"))

    @classmethod
    def from_profile(cls, entry: ProfileEntry) -> ImageTransfer:
        """image_block_size, image_transfer_enabled and manufacturer_key (hex x || y)."""
        o = entry.options
        values: dict[str, Data] = {
            "image_block_size": DoubleLongUnsigned(entry.int_option("image_block_size", BLOCK_SIZE)),
            "image_transfer_enabled": Boolean(bool(o.get("image_transfer_enabled", True)))}
        try:
            key = bytes.fromhex(o["manufacturer_key"]) if "manufacturer_key" in o else None
        except (TypeError, ValueError) as exc:
            raise OptionError(f"manufacturer_key is hex: {exc}") from None
        obj = cls(entry.obis, **values)
        obj.manufacturer_key = key
        return obj

    def __init__(self, logical_name: Obis, **values: Data) -> None:
        super().__init__(logical_name, **values)
        #: The manufacturer's public key (P-256 x || y) named by the profile; None: none.
        self.manufacturer_key: bytes | None = None
        #: Checks a complete image (set by the device); None: every image fails verification.
        self.verifier: Verifier | None = None
        self.blocks: ImageBlocks = MemoryImageBlocks()
        self.max_image_size = MAX_IMAGE_BYTES
        self.identifier = b""
        self.size = 0

    # --- the image ---------------------------------------------------------------------------

    @property
    def status(self) -> TransferStatus:
        return TransferStatus(self.int_value("image_transfer_status"))

    @property
    def block_size(self) -> int:
        return self.int_value("image_block_size")

    @property
    def block_count(self) -> int:
        return -(-self.size // self.block_size)

    def _received(self) -> set[int]:
        count = self.block_count
        return {n for n in self.blocks.numbers() if n < count}

    def _first_missing(self, received: set[int]) -> int:
        return next((n for n in range(self.block_count) if n not in received), self.block_count)

    def _set_status(self, status: TransferStatus, ctx: Context) -> None:
        self.store("image_transfer_status", Enum(int(status)))
        ctx.changed(self)

    def _image(self) -> bytes:
        """The whole image, or other-reason naming the first missing block."""
        received = self._received()
        missing = self._first_missing(received)
        if missing < self.block_count:
            raise _refused(f"block {missing} of {self.block_count} not transferred")
        return b"".join(self.blocks.get(n) or b"" for n in range(self.block_count))

    def _verified(self, ctx: Context) -> VerifiedImage:
        """Verify the image (rule 3): status 3 and event 17, or status 4, event 51 and raise."""
        self._set_status(TransferStatus.VERIFICATION_INITIATED, ctx)
        try:
            image = self._image()
            if self.verifier is None:
                raise _refused("no manufacturer key to verify images with")
            found = self.verifier(image)
        except MeterError as exc:
            log.warning("image %r failed verification: %s", self.identifier, exc)
            self.store("image_to_activate_info", Array(()))
            self._set_status(TransferStatus.VERIFICATION_FAILED, ctx)
            ctx.log_event(StandardEvent.FIRMWARE_VERIFICATION_FAILED)
            raise _refused(f"verification failed: {exc}") from None
        self.store("image_to_activate_info", Array((Structure((
            DoubleLongUnsigned(self.size), OctetString(found.identification),
            OctetString(found.signature))),)))
        self._set_status(TransferStatus.VERIFICATION_SUCCESSFUL, ctx)
        return found

    def _check_transfer_enabled(self) -> None:
        if self.value("image_transfer_enabled") != Boolean(True):
            raise AccessError(DataAccessResult.READ_WRITE_DENIED, "image transfer is disabled")

    # --- attributes --------------------------------------------------------------------------

    @on_get("image_transferred_blocks_status")
    def read_blocks_status(self, ctx: Context, selector: int | None, parameters: Data | None) -> Data:
        received = self._received()
        return BitString.from_bits("".join("1" if n in received else "0"
                                           for n in range(self.block_count)))

    @on_get("image_first_not_transferred_block_number")
    def read_first_missing(self, ctx: Context, selector: int | None, parameters: Data | None) -> Data:
        return DoubleLongUnsigned(self._first_missing(self._received()))

    @on_set("image_block_size", "image_transferred_blocks_status",
            "image_first_not_transferred_block_number", "image_transfer_status",
            "image_to_activate_info")
    def write_read_only(self, value: Data, ctx: Context) -> None:
        raise AccessError(DataAccessResult.READ_WRITE_DENIED, "kept by the meter")

    # --- methods -----------------------------------------------------------------------------

    @on_action("image_transfer_initiate")
    def initiate(self, parameters: Data | None, ctx: Context) -> None:
        identifier, size = fields(parameters, 2, "image_transfer_initiate")
        ident = expect(identifier, OctetString, "image_identifier").value
        nbytes = expect(size, DoubleLongUnsigned, "image_size").value
        self._check_transfer_enabled()
        if not 1 <= nbytes <= self.max_image_size or len(ident) > MAX_IDENTIFIER_BYTES:
            raise _refused(f"image of {nbytes} bytes (at most {self.max_image_size}) or "
                           f"identifier of {len(ident)} bytes refused")
        if (ident, nbytes) != (self.identifier, self.size) or self.status in _CLOSED:
            self.blocks.clear()
            self.identifier, self.size = ident, nbytes
        self.store("image_to_activate_info", Array(()))
        self._set_status(TransferStatus.INITIATED, ctx)

    @on_action("image_block_transfer")
    def block_transfer(self, parameters: Data | None, ctx: Context) -> None:
        number, value = fields(parameters, 2, "image_block_transfer")
        n = expect(number, DoubleLongUnsigned, "image_block_number").value
        block = expect(value, OctetString, "image_block_value").value
        self._check_transfer_enabled()
        if self.status in _CLOSED:
            raise _refused("no image transfer initiated")
        if n >= self.block_count:
            raise _refused(f"block {n}: the image has {self.block_count}")
        expected = min(self.block_size, self.size - n * self.block_size)
        if len(block) != expected:
            raise _refused(f"block {n} is {len(block)} bytes, not {expected}")
        self.blocks.put(n, block)
        if self.status != TransferStatus.INITIATED:
            self.store("image_to_activate_info", Array(()))
            self._set_status(TransferStatus.INITIATED, ctx)

    @on_action("image_verify")
    def verify(self, parameters: Data | None, ctx: Context) -> None:
        integer(parameters, "image_verify parameter")
        if self.status in _CLOSED:
            raise _refused("no image transfer initiated")
        if self.status != TransferStatus.VERIFICATION_SUCCESSFUL:
            self._verified(ctx)
            ctx.log_event(StandardEvent.FIRMWARE_READY_FOR_ACTIVATION)

    @on_action("image_activate")
    def activate(self, parameters: Data | None, ctx: Context) -> None:
        integer(parameters, "image_activate parameter")
        if self.status in _CLOSED:
            raise _refused("no image to activate")
        try:
            found = self._verified(ctx)
        except AccessError:
            self._set_status(TransferStatus.ACTIVATION_FAILED, ctx)
            raise
        self._set_status(TransferStatus.ACTIVATION_INITIATED, ctx)
        for name, value in ((ACTIVE_FIRMWARE_ID, found.identification),
                            (ACTIVE_FIRMWARE_SIGNATURE, found.signature)):
            target = ctx.directory.get(name)
            if target is not None:
                target.store("value", OctetString(value))
                ctx.changed(target)
        self._set_status(TransferStatus.ACTIVATION_SUCCESSFUL, ctx)
        ctx.log_event(StandardEvent.FIRMWARE_ACTIVATED)
        log.info("firmware %r activated", found.identification)

    # --- persistence -------------------------------------------------------------------------

    def dump_private(self) -> Data | None:
        return Structure((OctetString(self.identifier), DoubleLongUnsigned(self.size)))

    def load_private(self, value: Data) -> None:
        identifier, size = fields(value, 2, "image")
        self.identifier = expect(identifier, OctetString, "image_identifier").value
        self.size = expect(size, DoubleLongUnsigned, "image_size").value
