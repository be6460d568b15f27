"""`make demo`: the poller's main job, end to end, on the embedded stack.

Seeds a synthetic Sierra, runs the real poller (`python -m patron_info_poller`, as a
separate process configured by config/local.yaml plus the environment), loads what it
sent into the warehouse the way the warehouse's ingest does, makes updates and deletions,
and runs it again so the warehouse reuse paths are exercised. Then it builds the offline
geocoder's index from the stack's TIGER/Line county files and runs once more with
GEOCODER=tiger,census, showing how many addresses never left the process. Last, a
backfill of every patron on a local Dask cluster of two worker processes, and its status.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from .stack import EmbeddedStack
from .synthetic_sierra import SyntheticSierra
from .warehouse_loader import load_records, shipped_schema

ROOT = Path(__file__).resolve().parents[2]


def run_poller(stack: EmbeddedStack, title: str, *arguments: str, **settings: str) -> None:
    print(f"\n== {title}", flush=True)
    environment = {
        **os.environ,
        **stack.poller_environment(LOG_LEVEL=os.environ.get("LOG_LEVEL", "warning"), **settings),
        "ENVIRONMENT": "local",
    }
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "patron_info_poller", *arguments],
        env=environment,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"demo: the poller exited with {completed.returncode}")
    print(f"   ({time.monotonic() - started:.1f} s)", flush=True)


def run_with_config(stack: EmbeddedStack, title: str, *arguments: str, **settings: str) -> None:
    run_poller(stack, title, "run", "--config-dir", str(ROOT / "config"), *arguments, **settings)


def load_sent_records(stack: EmbeddedStack) -> int:
    with psycopg.connect(stack.warehouse_admin_conninfo) as conn:
        return load_records(
            conn, stack.warehouse_table, stack.new_kinesis_records(), shipped_schema()
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patrons", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    synthetic = SyntheticSierra(seed=args.seed)
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="patron-info-demo-") as workdir:
        print(
            "Starting the embedded stack (PostgreSQL, moto, the Census geocoder, TIGER "
            "downloads, the schema endpoint)..."
        )
        with EmbeddedStack(Path(workdir)) as stack:
            with psycopg.connect(stack.sierra_admin_conninfo) as conn:
                ids = synthetic.create_patrons(
                    conn, args.patrons, start=now - timedelta(days=60), end=now - timedelta(days=2)
                )
                synthetic.create_other_records(
                    conn, args.patrons // 5, start=now - timedelta(days=60), end=now
                )
            print(f"Seeded {len(ids)} patrons (and other Sierra records).")
            run_with_config(stack, "Run 1: every patron is new")
            print(f"Warehouse ingest loaded {load_sent_records(stack)} records.")

            yesterday = now - timedelta(days=1)
            updated, deleted = ids[: len(ids) // 5], ids[-len(ids) // 15 :]
            with psycopg.connect(stack.sierra_admin_conninfo) as conn:
                synthetic.update_patrons(conn, updated, yesterday, change_address_fraction=0.4)
                synthetic.delete_patrons(conn, deleted, yesterday.date())
                added = synthetic.create_patrons(
                    conn,
                    len(ids) // 10,
                    start=yesterday,
                    end=now - timedelta(minutes=5),
                )
            print(
                f"\nChanged Sierra: {len(updated)} patrons updated (40% moved), "
                f"{len(deleted)} deleted, {len(added)} added."
            )
            run_with_config(stack, "Run 2: updates reuse the warehouse; deletions read it")
            print(f"Warehouse ingest loaded {load_sent_records(stack)} records.")
            run_with_config(stack, "Run 3: nothing changed, nothing sent")

            index = Path(workdir) / "tiger-nyc.sqlite"
            run_poller(
                stack,
                "The offline geocoder's index, built from TIGER/Line county files "
                "(served locally in the Census Bureau's layout)",
                "tiger-index",
                "build",
                "--year",
                str(stack.tiger_year),
                "--counties",
                ",".join(stack.tiger_counties),
                "--output",
                str(index),
                "--source",
                stack.tiger_source_url,
            )
            with psycopg.connect(stack.sierra_admin_conninfo) as conn:
                # After run 2's cursor (its patrons were created before now - 5 min).
                added = synthetic.create_patrons(
                    conn,
                    len(ids) // 5,
                    start=now - timedelta(minutes=4),
                    end=datetime.now(UTC) - timedelta(seconds=1),
                )
            print(f"\nAdded {len(added)} new patrons.")
            summary = Path(workdir) / "run4.json"
            run_with_config(
                stack,
                "Run 4: GEOCODER=tiger,census: the index first, the Census service only for "
                "what it could not match",
                "--summary-json",
                str(summary),
                GEOCODER="tiger,census",
                TIGER_INDEX=str(index),
            )
            geocoding = json.loads(summary.read_text())["geocoding"]
            tiger, census = geocoding["tiger"], geocoding.get("census", {"requested": 0})
            print(
                f"{tiger['matched']} of {tiger['requested']} addresses were matched locally; "
                f"{census['requested']} still went out to the Census service."
            )
            print(f"Warehouse ingest loaded {load_sent_records(stack)} records.")

            since = (now - timedelta(days=61)).isoformat()
            backfill = ("backfill", "--config-dir", str(ROOT / "config"))
            run_poller(
                stack,
                "Backfill: every patron again, in parallel chunks on a local Dask cluster of "
                "2 worker processes (the live cursors are not touched)",
                *backfill,
                "--since",
                since,
                "--workers",
                "2",
                GEOCODER="tiger",
                TIGER_INDEX=str(index),
            )
            run_poller(stack, "backfill status", *backfill, "status")
            print(f"Warehouse ingest loaded {load_sent_records(stack)} records.")
            print("\nStopping the embedded stack.")
    print("Demo complete.")


if __name__ == "__main__":
    main()
