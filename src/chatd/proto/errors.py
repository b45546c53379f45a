"""Errors raised by the protocol layer. Nothing here touches I/O."""


class ProtocolError(ValueError):
    """A line that is not a well-formed IRC message (or cannot be serialised as one)."""
