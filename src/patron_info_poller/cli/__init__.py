"""The command line: `patron-info-poller` and `python3 main.py` are the same program."""

from .run import main

__all__ = ["main"]
