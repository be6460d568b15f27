"""PatronInfoPoller: Sierra patron changes to privacy-safe PatronInfo records on Kinesis."""

__version__ = "0.1.0"
