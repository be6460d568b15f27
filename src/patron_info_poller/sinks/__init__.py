"""Where encoded PatronInfo records go: the Kinesis stream (`kinesis.py`)."""
