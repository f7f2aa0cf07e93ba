"""Layer 1: pure codecs (A-XDR, BER, COSEM time, OBIS, CRC). Standard library only."""
