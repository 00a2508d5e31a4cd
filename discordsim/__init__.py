"""A stand-in for the parts of Discord's HTTP API the hub calls (for tests and demos)."""

__version__ = "1.0"
