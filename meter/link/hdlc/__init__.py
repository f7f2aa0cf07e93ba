"""HDLC secondary station for DLMS/COSEM (IEC 62056-46, Green Book 8.4)."""
