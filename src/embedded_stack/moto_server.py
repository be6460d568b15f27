"""moto's server with Kinesis shard writes serialised: `python -m embedded_stack.moto_server`
takes moto.server's arguments.

moto's `Shard.put_record` reads the shard's last sequence number and stores the record
under the next one; its own code notes it is not safe for concurrency. The server handles
each request in a thread, so parallel senders (a backfill's workers) can compute the same
sequence number and overwrite each other's records: with 3 senders it lost 25-34 of
15,000. Real Kinesis loses nothing, so the stand-in must not either: one lock is taken
around every shard write and read (the reads iterate the dict the writes grow).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from moto.kinesis import models
from moto.server import main as moto_main

_SHARDS = threading.RLock()


def _serialised(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _SHARDS:
            return method(*args, **kwargs)

    locked.__serialised__ = True  # type: ignore[attr-defined]
    return locked


def serialise_kinesis_shards() -> None:
    """Puts one lock around moto's shard writes and reads (once; calling again is a no-op)."""
    for name in ("put_record", "get_records"):
        method = getattr(models.Shard, name)
        if not getattr(method, "__serialised__", False):
            setattr(models.Shard, name, _serialised(method))


def main(argv: Sequence[str] | None = None) -> None:
    serialise_kinesis_shards()
    moto_main(list(argv) if argv is not None else None)


if __name__ == "__main__":
    main()
