"""chatd: a reactor chat server speaking the IRC client protocol, and its terminal client."""

__version__ = "0.1.0"
