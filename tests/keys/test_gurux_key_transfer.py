"""gurux-dlms as a real client (in process, wrapper framing straight into a MeterStack): HLS-GMAC
management association, GXDLMSSecuritySetup.globalKeyTransfer of a new EK and AK wrapped by
gurux's own AES key wrap, then a new association under the new keys."""

from __future__ import annotations


import pytest
from gurux_dlms import GXDLMSException
from gurux_dlms.enums import Authentication
from gurux_dlms.objects import GXDLMSData, GXDLMSSecuritySetup
from gurux_dlms.objects.enums.GlobalKeyType import GlobalKeyType
from support import SETUP, Meter
from support.gurux_memory import GuruxMemoryClient


from .helpers import MASTER

OLD_EK = bytes(range(16))
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
NEW_EK = bytes.fromhex("A0A1A2A3A4A5A6A7A8A9AAABACADAEAF")
NEW_AK = bytes.fromhex("B0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF")


class Gurux(GuruxMemoryClient):
    """gurux as the management client (HLS-GMAC) on one in-memory connection."""

    def __init__(self, meter: Meter, ek: bytes, ak: bytes, invocation_counter: int) -> None:
        super().__init__(meter, 1, Authentication.HIGH_GMAC, None, title="4D4D4D0000000001",
                         ek=ek, ak=ak, invocation_counter=invocation_counter)

    def read_ic(self) -> int:
        reply = self.exchange(self.client.read(GXDLMSData("0.0.43.1.0.255"), 2))
        assert not reply.error
        return int(reply.value)


def test_gurux_key_transfer_then_new_association(meter: Meter) -> None:
    g = Gurux(meter, OLD_EK, AK, 10)
    g.associate()
    assert g.read_ic() >= 10
    setup = GXDLMSSecuritySetup(str(SETUP))
    reply = g.exchange(setup.globalKeyTransfer(g.client, bytearray(MASTER), [
        (GlobalKeyType.UNICAST_ENCRYPTION, bytearray(NEW_EK)),
        (GlobalKeyType.AUTHENTICATION, bytearray(NEW_AK))]))
    assert reply.error == 0  # deciphered by gurux with the old keys
    ctx = meter.device.security_context(SETUP)
    assert (ctx.encryption_key, ctx.authentication_key) == (NEW_EK, NEW_AK)
    g.exchange(g.client.releaseRequest())

    stale = Gurux(meter, OLD_EK, AK, 100)
    with pytest.raises(GXDLMSException, match="rejected"):
        stale.associate()
    fresh = Gurux(meter, NEW_EK, NEW_AK, 1)  # the client's counter restarts with the key
    fresh.associate()
    assert fresh.read_ic() >= 1
    fresh.exchange(fresh.client.releaseRequest())
