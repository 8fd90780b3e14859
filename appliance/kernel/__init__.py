"""The kernel: ids, errors, clock and id injection, base structs, the event envelope.

Pure: it imports no framework, reads no clock and draws no randomness.
"""
