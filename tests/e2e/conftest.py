"""The embedded stack, started once per test session, and helpers to run the poller on it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from embedded_stack.stack import EmbeddedStack
from embedded_stack.warehouse_loader import decode_records, load_records, shipped_schema
from patron_info_poller.config import PollerConfig, load_config
from patron_info_poller.errors import PollerError
from patron_info_poller.pipeline import RunSummary
from patron_info_poller.runner import run_once

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> EmbeddedStack:
    # bcrypt at cost 4: the suite hashes thousands of ids, and the cost changes no path.
    with EmbeddedStack(tmp_path_factory.mktemp("stack"), bcrypt_cost=4) as running:
        yield running


@dataclass
class PollerRun:
    summary: RunSummary
    records: list[dict]
    raw: list[bytes]

    def by_stream(self, name: str):
        return next(s for s in self.summary.streams if s.stream == name)


class Poller:
    """Runs the real pipeline against the stack, the way the CLI would build it."""

    def __init__(self, stack: EmbeddedStack):
        self.stack = stack
        self.schema = shipped_schema()

    def config(self, **overrides: str) -> PollerConfig:
        return load_config(None, self.stack.poller_environment(**overrides), ROOT / "config")

    def run(self, **overrides: str) -> PollerRun:
        summary = run_once(self.config(**overrides))
        raw = self.stack.new_kinesis_records()
        return PollerRun(summary, decode_records(raw, self.schema), raw)

    def try_run(self, **overrides: str) -> tuple[BaseException | None, list[dict]]:
        """A run that may fail: its error (or None) and whatever reached Kinesis."""
        error: BaseException | None = None
        try:
            run_once(self.config(**overrides))
        except PollerError as exc:
            error = exc
        RELIABILITY.runs += 1
        records = decode_records(self.stack.new_kinesis_records(), self.schema)
        RELIABILITY.records_sent += len(records)
        return error, records

    def load_into_warehouse(self, raw: list[bytes]) -> int:
        with psycopg.connect(self.stack.warehouse_admin_conninfo) as conn:
            return load_records(conn, self.stack.warehouse_table, raw, self.schema)


@dataclass
class Reliability:
    """Tallies of the fault tests, printed at the end of the test run."""

    faults_injected: int = 0
    runs: int = 0
    patron_changes: int = 0
    records_sent: int = 0
    changes_lost: int = 0
    leaks_found: int = 0

    def account(self, expected: set[str], delivered: set[str]) -> set[str]:
        lost = expected - delivered
        self.patron_changes += len(expected)
        self.changes_lost += len(lost)
        return lost


RELIABILITY = Reliability()


@pytest.fixture
def reliability() -> Reliability:
    return RELIABILITY


def pytest_terminal_summary(terminalreporter):
    r = RELIABILITY
    if r.runs:
        terminalreporter.write_sep("-", "reliability summary")
        terminalreporter.write_line(
            f"faults injected: {r.faults_injected}, runs: {r.runs}, patron changes: "
            f"{r.patron_changes}, records sent: {r.records_sent}, changes lost: "
            f"{r.changes_lost}, leaks found: {r.leaks_found}"
        )


@pytest.fixture
def poller(stack) -> Poller:
    stack.reset()
    return Poller(stack)


@pytest.fixture
def sierra(stack):
    with psycopg.connect(stack.sierra_admin_conninfo, autocommit=True) as conn:
        yield conn
