"""The end-of-run summary: a table per stream and per geocoding provider on stdout, the
same figures as log lines, and as JSON for `--summary-json`. Counts and timings only."""

from __future__ import annotations

import logging
import sys

from rich.console import Console
from rich.table import Table

from ..geocoding.chain import ProviderTally
from ..pipeline import RunSummary

logger = logging.getLogger("patron_info_poller")

STREAM_COLUMNS = (
    "stream",
    "batches",
    "read",
    "sent",
    "geocoded",
    "match rate",
    "asked again",
    "reused",
    "skipped",
)
PROVIDER_COLUMNS = ("provider", "requested", "matched", "unmatched", "ties", "asked again")


def stream_rows(summary: RunSummary) -> list[tuple[str, ...]]:
    rows = []
    for s in summary.streams:
        rate = "-" if s.match_rate is None else f"{s.match_rate:.1%}"
        rows.append(
            (
                s.stream,
                str(s.batches),
                str(s.read),
                str(s.sent),
                str(s.geocode_requested),
                rate,
                str(s.geocode_reasked),
                str(s.reused_from_warehouse),
                str(sum(s.skipped.values())),
            )
        )
    return rows


def provider_totals(summary: RunSummary) -> dict[str, ProviderTally]:
    """Each provider's counts over every stream, in chain order."""
    totals: dict[str, ProviderTally] = {}
    for stream in summary.streams:
        for name, tally in stream.geocoding.items():
            totals.setdefault(name, ProviderTally()).add(tally)
    return totals


def provider_rows(summary: RunSummary) -> list[tuple[str, ...]]:
    return [
        (
            name,
            str(t.requested),
            str(t.matched),
            str(t.unmatched),
            str(t.ties),
            str(t.events["reasked"]),
        )
        for name, t in provider_totals(summary).items()
    ]


def summary_document(summary: RunSummary) -> dict[str, object]:
    return {
        "elapsed_seconds": round(summary.elapsed_seconds, 3),
        "hashes_computed": summary.hashes_computed,
        "streams": [
            {
                "stream": s.stream,
                "batches": s.batches,
                "read": s.read,
                "sent": s.sent,
                "already_sent": s.already_sent,
                "geocode_requested": s.geocode_requested,
                "geocode_matched": s.geocode_matched,
                "geocode_reasked": s.geocode_reasked,
                "geocoding": {name: tally.as_dict() for name, tally in s.geocoding.items()},
                "reused_from_warehouse": s.reused_from_warehouse,
                "skipped": dict(s.skipped),
                "elapsed_seconds": round(s.elapsed_seconds, 3),
            }
            for s in summary.streams
        ],
        "geocoding": {name: t.as_dict() for name, t in provider_totals(summary).items()},
    }


def report(summary: RunSummary, title: str = "PatronInfoPoller run") -> None:
    streams = stream_rows(summary)
    providers = provider_rows(summary)
    for row in streams:
        logger.info("Stream summary", extra=dict(zip(STREAM_COLUMNS, row, strict=True)))
    for row in providers:
        logger.info("Geocoding summary", extra=dict(zip(PROVIDER_COLUMNS, row, strict=True)))
    console = Console(file=sys.stdout, width=100)
    console.print(_table(title, STREAM_COLUMNS, streams))
    if providers:
        console.print(_table("Geocoding by provider", PROVIDER_COLUMNS, providers))


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    table = Table(title=title)
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table
