"""Layer 5: the meter itself, the composition root of objects, metrology, clock and storage."""

from meter.device.device import Device

__all__ = ["Device"]
