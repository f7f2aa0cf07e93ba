"""Firmware update over the wire (issue 11 item 6): gurux-dlms's GXDLMSImageTransfer flow, as
shipped, against a real meter process on the TCP wrapper: a 200 KB signed image with two blocks
dropped on the way and a dropped connection halfway, the gaps found from the meter's
transferred-blocks status and re-sent, verify, activate; a forged image refused; the new
firmware identifier read again after a restart."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from interop.clients import MANAGEMENT, PUBLIC, READER, SUCCESS, WRAPPER, Endpoint, GuruxDriver, Ref
from support.process import meter_process

from .images import forged, image

pytestmark = pytest.mark.interop

IMAGE = "0.0.44.0.0.255"
FIRMWARE_ID = Ref(1, "1.0.0.2.0.255", 2)
FIRMWARE_SIGNATURE = Ref(1, "1.0.0.2.8.255", 2)
INVOCATION_COUNTER = Ref(1, "0.0.43.1.0.255", 2)
STATUS = Ref(18, IMAGE, 6)
#: image_transfer_status (Blue Book): 1 initiated, 3 verified, 4 verification failed, 6 activated.
INITIATED, VERIFIED, VERIFICATION_FAILED, ACTIVATED = 1, 3, 4, 6
DROPPED = (7, 250)  # blocks "lost" on the way: never sent the first time


@contextmanager
def serve(state: Path) -> Iterator[Endpoint]:
    with meter_process(state, "--tcp", "127.0.0.1:0") as process:
        yield Endpoint(WRAPPER, *process.address("tcp"))


def management(endpoint: Endpoint) -> GuruxDriver:
    """HLS-GMAC management with a PDU that takes a 512-byte block (gurux checks the block size
    against it); its invocation counter above what the public client reads."""
    public = GuruxDriver(endpoint, PUBLIC)
    public.associate()
    counter = int(public.get(INVOCATION_COUNTER).value) + 1
    public.release()
    driver = GuruxDriver(endpoint, MANAGEMENT, counter, max_pdu=1024)
    driver.associate()
    return driver


def transfer_object(driver: GuruxDriver) -> Any:
    """gurux's own Image transfer object, its block size and enabled flag read from the meter."""
    from gurux_dlms.objects import GXDLMSImageTransfer

    obj = GXDLMSImageTransfer(IMAGE)
    for index in (2, 5):
        reply = driver._exchange(driver.client.read(obj, index))
        assert not reply.error, f"attribute {index}: {reply.error}"
        driver.client.updateValue(obj, index, reply.value)
    assert obj.imageTransferEnabled
    return obj


def run(driver: GuruxDriver, frames: Any) -> int:
    return int(driver._exchange(frames).error)


def status(driver: GuruxDriver) -> int:
    return int(driver.get(STATUS).value)


def test_gurux_transfers_verifies_and_activates_a_200kb_image_across_drops_and_a_restart(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    raw = image("ACESM-0.2.0", 200 * 1024)
    identifier = "ACESM-0.2.0.img"  # gurux encodes the str itself
    with serve(state) as endpoint:
        m = management(endpoint)
        obj = transfer_object(m)
        assert obj.imageBlockSize == 512
        assert run(m, obj.imageTransferInitiate(m.client, identifier, len(raw))) == SUCCESS
        count = [0]
        packets = obj.imageBlockTransfer(m.client, raw, count)
        assert count[0] == len(packets) == -(-len(raw) // 512) == 401
        half = len(packets) // 2
        for n, packet in enumerate(packets[:half]):
            if n not in DROPPED:
                assert run(m, packet) == SUCCESS, n
        m.link.close()  # the connection drops halfway, without a release

        m = management(endpoint)
        obj = transfer_object(m)
        # gurux's flow initiates again; the same identifier and size resume the transfer.
        assert run(m, obj.imageTransferInitiate(m.client, identifier, len(raw))) == SUCCESS
        assert m.get(Ref(18, IMAGE, 4)).value == DROPPED[0]
        # Frames are ciphered under the connection's invocation counters: built again.
        packets = obj.imageBlockTransfer(m.client, raw, None)
        for n, packet in enumerate(packets[half:], half):
            if n not in DROPPED:
                assert run(m, packet) == SUCCESS, n
        received = m.get(Ref(18, IMAGE, 3)).value
        missing = [n for n, bit in enumerate(str(received)) if bit == "0"]
        assert missing == list(DROPPED) and len(str(received)) == len(packets)
        packets = obj.imageBlockTransfer(m.client, raw, None)  # counters above those sent
        for n in missing:  # re-sent
            assert run(m, packets[n]) == SUCCESS
        assert m.get(Ref(18, IMAGE, 4)).value == len(packets)
        assert run(m, obj.imageVerify(m.client)) == SUCCESS
        assert status(m) == VERIFIED
        info = m.get(Ref(18, IMAGE, 7)).value
        assert info == [[len(raw), b"ACESM-0.2.0", raw[-64:]]]
        assert run(m, obj.imageActivate(m.client)) == SUCCESS
        assert status(m) == ACTIVATED
        m.release()

    with serve(state) as endpoint:
        r = GuruxDriver(endpoint, READER)
        r.associate()
        assert r.get(FIRMWARE_ID).value == b"ACESM-0.2.0"
        assert r.get(FIRMWARE_SIGNATURE).value == raw[-64:]
        assert r.get(STATUS).value == ACTIVATED
        r.release()


def test_gurux_sees_a_forged_image_refused(tmp_path: Path) -> None:
    raw = forged("ACESM-6.6.6", 20 * 1024)
    with serve(tmp_path / "state") as endpoint:
        m = management(endpoint)
        before = m.get(FIRMWARE_ID).value
        obj = transfer_object(m)
        assert run(m, obj.imageTransferInitiate(m.client, "evil", len(raw))) == SUCCESS
        for packet in obj.imageBlockTransfer(m.client, raw, None):
            assert run(m, packet) == SUCCESS
        assert status(m) == INITIATED
        assert run(m, obj.imageVerify(m.client)) != SUCCESS
        assert status(m) == VERIFICATION_FAILED
        assert not m.get(Ref(18, IMAGE, 7)).value  # an empty array (gurux: None)
        assert run(m, obj.imageActivate(m.client)) != SUCCESS
        assert m.get(FIRMWARE_ID).value == before == b"ACESM-0.1.0"
        m.release()
