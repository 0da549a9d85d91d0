"""Chain formats: wire/disk encodings, hashing, script and address rules of each supported chain.

Pure functions over bytes; no storage and no I/O beyond what a format defines.
"""
