"""The `--sink` option: where a run's records go.

kinesis             the stream in KINESIS_STREAM_ARN (the default; built by the runner)
avro-file:PATH      an Avro object container file, for a dry run
jsonl:PATH          JSON lines, one record per line, for a dry run
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from .avro_file import AvroFileSink
from .files import FileSink
from .jsonl import JsonLinesSink

SinkKind = Literal["kinesis", "avro-file", "jsonl"]
FORMS = "kinesis, avro-file:PATH or jsonl:PATH"
_FILE_SINKS: dict[str, type[FileSink]] = {"avro-file": AvroFileSink, "jsonl": JsonLinesSink}


class SinkSpecError(ValueError, argparse.ArgumentTypeError):
    """A ValueError; also an ArgumentTypeError so that `type=parse_sink` in argparse
    reports this message rather than a generic one."""


@dataclass(frozen=True)
class SinkSpec:
    kind: SinkKind
    path: Path | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("kinesis", *_FILE_SINKS):
            raise SinkSpecError(f"unknown sink kind {self.kind!r}: --sink must be {FORMS}")
        if (self.path is not None) != self.is_file:
            raise SinkSpecError(f"a {self.kind} sink takes {'a' if self.is_file else 'no'} path")

    @property
    def is_file(self) -> bool:
        return self.kind != "kinesis"

    def __str__(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"


KINESIS = SinkSpec("kinesis")


def parse_sink(text: str) -> SinkSpec:
    """`kinesis`, `avro-file:PATH` or `jsonl:PATH` (the kind in any case; `~` expanded)."""
    kind, colon, path = text.partition(":")
    kind = kind.lower()
    if kind == "kinesis" and not colon:
        return KINESIS
    if kind in _FILE_SINKS and colon and path.strip():
        return SinkSpec(cast(SinkKind, kind), Path(path).expanduser())
    raise SinkSpecError(f"--sink must be {FORMS}, not {text!r}")


def open_file_sink(spec: SinkSpec, schema: dict[str, Any]) -> FileSink:
    """A new file sink (a RecordSink, plus `abort()`); the partial file exists from now.

    Raises ConfigurationError if the target cannot be written (a directory, a missing
    folder, no permission), before any work is done.
    """
    if not spec.is_file or spec.path is None:
        raise ValueError(f"{spec} is not a file sink; the runner builds the Kinesis sink")
    return _FILE_SINKS[spec.kind](spec.path, schema)
