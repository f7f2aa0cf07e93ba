"""COSEM object model (Blue Book, DLMS UA 1000-1): interface classes and the object directory."""
