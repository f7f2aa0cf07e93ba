"""Closing a billing period: the meter's own step of the end-of-billing script.

The script table 0.0.10.0.1.255 lists what COSEM services can say (capture the billing profile
0.0.98.1.0.255); a script marked ``closes_billing`` in the profile then also increments the
billing period counter 1.0.0.1.0.255 (unsigned, wraps at 256) and stamps the time of the last
billing 1.0.0.1.2.255 (octet-string date-time, meter local time) (cosem-reference.md, use case 4).
Run by the end-of-billing single action schedule 0.0.15.0.0.255 or a head end's execute.
"""

from __future__ import annotations

from meter.codec import axdr
from meter.cosem.base import Context
from meter.cosem.names import BILLING_COUNTER, LAST_BILLING_TIME



def close_billing_period(ctx: Context) -> None:
    counter = ctx.directory.get(BILLING_COUNTER)
    if counter is not None:
        n = counter.int_value("value") + 1
        counter.store("value", axdr.Unsigned(n % 256))
        ctx.changed(counter)
    stamp = ctx.directory.get(LAST_BILLING_TIME)
    if stamp is not None:
        stamp.store("value", axdr.OctetString(ctx.directory.clock.now_cosem().to_bytes()))
        ctx.changed(stamp)
