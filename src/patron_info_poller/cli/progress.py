"""Progress on a terminal: one live line per stream, with its geocoding per provider.
Off a terminal nothing is drawn; the JSON log lines tell the same story."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..logs import terminal_console
from ..pipeline import StreamSummary

OnBatch = Callable[[StreamSummary], None]


def stream_line(stream: StreamSummary) -> str:
    text = f"{stream.stream}: {stream.read} read, {stream.sent} sent"
    for name, tally in stream.geocoding.items():
        text += f", {name} {tally.matched}/{tally.requested} matched"
    if stream.geocode_reasked:
        text += f", {stream.geocode_reasked} asked again"
    return text


@contextmanager
def stream_progress() -> Iterator[OnBatch | None]:
    """Yields the pipeline's on_batch callback, or None when stderr is no terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=terminal_console(sys.stderr),
        transient=True,
    ) as progress:
        tasks: dict[str, int] = {}

        def on_batch(stream: StreamSummary) -> None:
            text = stream_line(stream)
            if stream.stream not in tasks:
                tasks[stream.stream] = progress.add_task(text)
            progress.update(tasks[stream.stream], description=text)

        yield on_batch
