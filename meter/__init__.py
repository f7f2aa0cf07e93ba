"""A virtual DLMS/COSEM AC electricity smart meter (ACESM companion profile)."""

__version__ = "0.1.0"
