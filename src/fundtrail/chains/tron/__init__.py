"""TRON: Base58Check addresses (0x41 + the 20-byte account hash) and java-tron contract types."""
