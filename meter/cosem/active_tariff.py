"""Currently active tariff 0.0.96.14.0.255: a Data object (class_id 1, version 0) whose value
is the rate the Register activation's active mask selects (unsigned, the mask's 1-based
position in mask_list, 0 when no mask is active; cosem-reference.md use case 13). Read from the
Register activation each time, so it can never disagree with the registers that accumulate.
"""

from __future__ import annotations

from meter.codec.axdr import Data as AxdrData, OctetString, Unsigned
from meter.codec.obis import Obis
from meter.cosem.base import Attr, Context, on_get
from meter.cosem.data import Data
from meter.cosem.profile_entry import OptionError, ProfileEntry
from meter.cosem.register_activation import RegisterActivation


class ActiveTariff(Data):
    NAME = "active_tariff"
    ATTRIBUTES = (
        Attr(1, "logical_name", OctetString),
        Attr(2, "value", Unsigned, static=False, default=Unsigned(0)),
    )

    @classmethod
    def from_profile(cls, entry: ProfileEntry) -> ActiveTariff:
        """``register_activation``: the Register activation whose active mask it shows."""
        try:
            source = Obis.parse(str(entry.options["register_activation"]))
        except (KeyError, ValueError) as exc:
            raise OptionError(f"register_activation (obis) expected: {exc!r}") from None
        return cls(entry.obis, source)

    def __init__(self, logical_name: Obis, register_activation: Obis) -> None:
        super().__init__(logical_name)
        self.register_activation = register_activation

    @on_get("value")
    def read_value(self, ctx: Context, selector: int | None, parameters: AxdrData | None) -> AxdrData:
        source = ctx.directory.get(self.register_activation)
        return Unsigned(source.rate() if isinstance(source, RegisterActivation) else 0)
