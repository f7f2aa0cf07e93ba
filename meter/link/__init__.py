"""Sans-IO link layers (layer 2).

IEC 62056-47 TCP wrapper, HDLC (IEC 62056-46), IEC 62056-21 mode E optical port opening.
"""
