"""The backfill's benchmark: `make bench`'s backfill section (bench/run.py calls
`measure_backfill` with its stack), or alone: `python -m bench.backfill [--patrons N]`.

On the embedded stack, on the same data and machine, in one invocation:

(a) `backfill` on all cores (the CLI in its own process, a LocalCluster of one
    one-thread worker per core, chunks sized by the measured hash rate) against the
    sequential `BACKFILL=True` run (the CLI, IGNORE_CACHE=True); goal: at least 0.95 of its
    throughput, i.e. Dask costs under 5%. Both end to end, process start to exit.
(b) two worker processes of one thread each against one, on a smaller window of the same
    data, the driver in this process on a cluster already started (the scaling of the
    chunks, not the cluster's start); goal: at least 1.8x on a 2-core machine.
(c) CPU-seconds per record: the whole process tree of each run (wait4), and the
    backfill's own account (driver plus the chunks' worker processes).
(d) a projection: hours for 1 and 10 million patrons at costs 7 and 12, on 16, 64 and
    256 cores, with 1 and 4 Kinesis shards, from the measured figures; where Kinesis, not
    the cores, sets the time, it says so.

The fixed costs of a backfill (starting the worker processes, measuring the hash rate,
the plan's query) are a few seconds: the ratio in (a) needs runs of a minute or more to
mean anything (20,000 patrons at cost 7 on 2 cores take about two and a half minutes).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.machine import bcrypt_rate, cores, machine_cpu_seconds
from embedded_stack.stack import S3_BUCKET, S3_RESOURCE, EmbeddedStack
from embedded_stack.synthetic_sierra import SyntheticSierra
from patron_info_poller.backfill.chunk import ConfigSource
from patron_info_poller.backfill.cluster import ClusterSpec, connect
from patron_info_poller.backfill.driver import BackfillOptions, run_backfill
from patron_info_poller.backfill.limits import KINESIS_BYTES_PER_SHARD, KINESIS_RECORDS_PER_SHARD
from patron_info_poller.backfill.plan import bcrypt_cost, measure_hash_rate
from patron_info_poller.backfill.store import BackfillStore
from patron_info_poller.config import load_config

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SINCE = datetime(2000, 1, 1, tzinfo=UTC)
DEFAULT_LATENCY = (3.0, 0.005)  # the local Census geocoder: seconds per request, per row

PROJECTION_PATRONS = (1_000_000, 10_000_000)
PROJECTION_COSTS = (7, 12)
PROJECTION_CORES = (16, 64, 256)
PROJECTION_SHARDS = (1, 4)
HASHES_PER_PATRON = 2


def measure_backfill(
    stack: EmbeddedStack,
    workdir: Path,
    *,
    scaling_patrons: int = 6000,
    settings: dict[str, str] | None = None,
    latency: tuple[float, float] = DEFAULT_LATENCY,
) -> dict[str, Any]:
    """Measures (a) to (d) on the patrons in the stack's Sierra (every non-deleted patron
    created since 2000: both sides send the same records). Touches no state object."""
    settings = {"LOG_LEVEL": "warning", **(settings or {})}
    census = stack.geocoder_app
    census.reset()
    census.faults.delay_seconds, census.faults.delay_per_row_seconds = latency
    patrons = count_patrons(stack, SINCE)
    load_before = os.getloadavg()
    salt_cost = bcrypt_cost(stack.salt)
    print(f"   backfill: {patrons} patrons at cost {salt_cost} on {cores()} cores", flush=True)
    print("   backfill: measuring the bcrypt rate (one thread, every core)...", flush=True)
    one_thread = measure_hash_rate(salt_cost, seconds=3.0)
    all_cores = bcrypt_rate(stack.salt)

    print("   backfill: (a) the sequential BACKFILL=True run...", flush=True)
    stack.new_kinesis_records()
    sequential = run_measured(
        stack,
        workdir,
        [],
        {
            **settings,
            "BACKFILL": "True",
            "IGNORE_CACHE": "True",
            "STARTING_CREATION_DT": str(SINCE),
        },
    )
    sequential["records_sent"] = len(stack.new_kinesis_records())
    print(f"   backfill: (a) backfill on all {cores()} cores...", flush=True)
    parallel = run_measured(stack, workdir, ["backfill", "--since", SINCE.isoformat()], settings)
    sent = stack.new_kinesis_records()
    parallel["records_sent"] = len(sent)
    # As Kinesis counts a record: its datum and its partition key (a 31-character patron_id).
    record_bytes = sum(len(data) for data in sent) / max(1, len(sent)) + 31
    stream_seconds = sequential["summary"]["streams"][0]["elapsed_seconds"]
    sequential_stream_rate = sequential["records_sent"] / stream_seconds

    chunk_span = chunks_span(stack, parallel["summary"]["plan_id"])

    # Measured again after (a): a busy moment at the start must not lower the ceiling.
    one_thread = max(one_thread, measure_hash_rate(salt_cost, seconds=3.0))
    all_cores = max(all_cores, bcrypt_rate(stack.salt))

    window_start = window_of(stack, scaling_patrons)
    scaling = {}
    for workers in (1, 2):
        print(f"   backfill: (b) {workers} one-thread worker(s)...", flush=True)
        scaling[workers] = in_process_backfill(stack, workers, window_start, settings)
        scaling[workers]["records_sent"] = len(stack.new_kinesis_records())

    ratio = throughput(parallel) / throughput(sequential)
    efficiency = throughput(parallel) / (all_cores / HASHES_PER_PATRON)
    steady_efficiency = parallel["records_sent"] / chunk_span / (all_cores / HASHES_PER_PATRON)
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": cores(),
        "bcrypt_cost": salt_cost,
        "patrons": patrons,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "geocoder_latency": {"per_request_seconds": latency[0], "per_row_seconds": latency[1]},
        "bcrypt_hashes_per_second_one_thread": round(one_thread, 1),
        "bcrypt_hashes_per_second_all_cores": round(all_cores, 1),
        "hash_bound_ceiling_records_per_second": round(all_cores / HASHES_PER_PATRON, 1),
        "sequential": summarise(sequential),
        "backfill_all_cores": summarise(parallel),
        "backfill_vs_sequential": round(ratio, 3),
        # Without the fixed costs (process and cluster start, planning, shutdown): from the
        # first chunk's start to the last one's end, against the sequential run's stream.
        "steady_state_vs_sequential": round(
            (parallel["records_sent"] / chunk_span) / sequential_stream_rate, 3
        ),
        "fixed_seconds": round(parallel["wall_seconds"] - chunk_span, 1),
        "backfill_vs_ceiling": round(efficiency, 3),
        "steady_state_vs_ceiling": round(steady_efficiency, 3),
        "scaling": {
            "patrons": scaling[1]["records_sent"],
            "one_worker": summarise(scaling[1]),
            "two_workers": summarise(scaling[2]),
            "speedup": round(throughput(scaling[2]) / throughput(scaling[1]), 3),
        },
        "record_bytes": round(record_bytes, 1),
    }
    result["projection"] = projection(
        one_thread, salt_cost, min(1.0, steady_efficiency), record_bytes
    )
    return result


def chunks_span(stack: EmbeddedStack, plan_id: str) -> float:
    """Seconds from the first chunk's start to the last chunk's end (from the markers)."""
    store = BackfillStore(stack.moto.client("s3"), S3_BUCKET, S3_RESOURCE)
    spans = [
        (datetime.fromisoformat(m["finished_at"]).timestamp() - m["seconds"],
         datetime.fromisoformat(m["finished_at"]).timestamp())
        for m in store.markers(plan_id).values()
    ]  # fmt: skip
    return max(end for _, end in spans) - min(start for start, _ in spans)


def count_patrons(stack: EmbeddedStack, since: datetime) -> int:
    with psycopg.connect(stack.sierra_admin_conninfo) as conn:
        row = conn.execute(
            "SELECT count(*) FROM sierra_view.record_metadata WHERE record_type_code = 'p'"
            " AND deletion_date_gmt IS NULL AND creation_date_gmt >= %s",
            (since,),
        ).fetchone()
    return int(row[0])


def window_of(stack: EmbeddedStack, patrons: int) -> datetime:
    """The start of a window holding about the `patrons` newest patrons."""
    with psycopg.connect(stack.sierra_admin_conninfo) as conn:
        row = conn.execute(
            "SELECT creation_date_gmt FROM sierra_view.record_metadata"
            " WHERE record_type_code = 'p' AND deletion_date_gmt IS NULL"
            " ORDER BY creation_date_gmt DESC OFFSET %s LIMIT 1",
            (max(0, patrons - 1),),
        ).fetchone()
    return row[0] if row else SINCE


def run_measured(
    stack: EmbeddedStack, workdir: Path, arguments: list[str], settings: dict[str, str]
) -> dict[str, Any]:
    """The CLI in its own process: wall time, and the CPU time of its whole process tree
    (wait4 counts the worker processes it reaped)."""
    summary_path = workdir / "backfill-summary.json"
    summary_path.unlink(missing_ok=True)
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **stack.poller_environment(**settings),
    }
    environment.pop("ENVIRONMENT", None)
    machine_before, started = machine_cpu_seconds(), time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), *arguments, "--summary-json", str(summary_path)],
        env=environment,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(
            f"bench: {arguments or ['run']} exited {os.waitstatus_to_exitcode(status)}"
        )
    return {
        "wall_seconds": wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "machine_cpu_seconds": machine_cpu_seconds() - machine_before,
        "summary": json.loads(summary_path.read_text()),
    }


def in_process_backfill(
    stack: EmbeddedStack, workers: int, since: datetime, settings: dict[str, str]
) -> dict[str, Any]:
    """A backfill of [since, now) driven from here, on `workers` one-thread processes
    started beforehand: the chunks' scaling, not the cluster's start."""
    environment = stack.poller_environment(**settings)
    config = load_config(None, environment, ROOT / "config")
    options = BackfillOptions(ConfigSource(None, str(ROOT / "config")), since=since)
    with connect(ClusterSpec(workers=workers, worker_env=environment)) as client:
        client.wait_for_workers(workers)
        # The chunks' modules imported beforehand, as a running cluster has them after its
        # first chunk: (b) measures how the chunks scale, not the workers' start.
        client.run(lambda: importlib.import_module("patron_info_poller.backfill.chunk") and None)
        machine_before, started = machine_cpu_seconds(), time.monotonic()
        summary = run_backfill(config, options, client=client)
        wall = time.monotonic() - started
    return {
        "wall_seconds": wall,
        "cpu_seconds": summary.cpu_seconds,
        "machine_cpu_seconds": machine_cpu_seconds() - machine_before,
        "summary": summary.as_dict(),
    }


def throughput(run: dict[str, Any]) -> float:
    return run["records_sent"] / run["wall_seconds"]


def summarise(run: dict[str, Any]) -> dict[str, Any]:
    summary = run["summary"]
    own_cpu = summary.get("cpu_seconds")
    return {
        "records_sent": run["records_sent"],
        "wall_seconds": round(run["wall_seconds"], 2),
        "records_per_second": round(throughput(run), 1),
        "cpu_seconds": round(run["cpu_seconds"], 1),
        "cpu_seconds_per_record": round(run["cpu_seconds"] / max(1, run["records_sent"]), 5),
        "own_account_cpu_seconds_per_record": None
        if own_cpu is None
        else round(own_cpu / max(1, run["records_sent"]), 5),
        "machine_cpu_utilisation": round(
            run["machine_cpu_seconds"] / (run["wall_seconds"] * cores()), 3
        ),
        "chunks": summary.get("chunks_total"),
        "duplicates": summary.get("duplicates"),
    }


def projection(
    hashes_per_second_one_thread: float, cost: int, efficiency: float, record_bytes: float
) -> dict[str, Any]:
    """Hours per (patrons, cost, cores, shards): the larger of the hashing time and the
    Kinesis time. bcrypt's cost is log2 of its rounds, so each step doubles a hash."""
    rows = []
    per_shard = min(KINESIS_RECORDS_PER_SHARD, KINESIS_BYTES_PER_SHARD / record_bytes)
    for patrons in PROJECTION_PATRONS:
        for target_cost in PROJECTION_COSTS:
            rate = hashes_per_second_one_thread * 2.0 ** (cost - target_cost)
            for core_count in PROJECTION_CORES:
                hashing = patrons * HASHES_PER_PATRON / (rate * core_count * efficiency)
                for shards in PROJECTION_SHARDS:
                    kinesis = patrons / (per_shard * shards)
                    rows.append(
                        {
                            "patrons": patrons,
                            "cost": target_cost,
                            "cores": core_count,
                            "shards": shards,
                            "hours": round(max(hashing, kinesis) / 3600, 2),
                            "hashing_hours": round(hashing / 3600, 2),
                            "kinesis_hours": round(kinesis / 3600, 2),
                            "bound_by": "kinesis" if kinesis > hashing else "cores",
                        }
                    )
    return {
        "assumptions": [
            f"one thread hashes {hashes_per_second_one_thread:.1f}/s at cost {cost} (measured "
            "here), half as fast for each cost step; every core runs one one-thread worker",
            f"a core sends {efficiency:.0%} of its hash-bound rate (the backfill's chunks' "
            "rate against the all-core ceiling measured here), whatever the cluster's size; "
            "the backfill's fixed seconds (start, plan, shutdown) are left out",
            "two hashes per patron; no other stage is the limit: an offline geocoder "
            "(GEOCODER=tiger or tiger,census); BACKFILL_GEOCODER_CONCURRENCY requests to the "
            "Census service alone would cap the rate far lower",
            f"Kinesis takes {KINESIS_RECORDS_PER_SHARD:,} records/s and 1 MiB/s per shard "
            f"(records of about {record_bytes:.0f} bytes: the record count binds), shared "
            "evenly by the workers; nothing else writes to the stream",
            "Sierra answers each chunk's keyset pages without becoming the bottleneck "
            "(BACKFILL_SIERRA_CONNECTIONS connections), and planning takes seconds",
        ],
        "rows": rows,
    }


def print_backfill_report(result: dict[str, Any]) -> None:
    print(
        f"\nbackfill: {result['patrons']:,} patrons, bcrypt cost {result['bcrypt_cost']}, "
        f"{result['cores']} cores, GEOCODER={result.get('geocoder', 'census')}; "
        f"load average before {result['load_average_before']}, "
        f"after {result['load_average_after']}"
    )
    print(
        f"  bcrypt: {result['bcrypt_hashes_per_second_one_thread']}/s on one thread, "
        f"{result['bcrypt_hashes_per_second_all_cores']}/s on all cores -> hash-bound ceiling "
        f"{result['hash_bound_ceiling_records_per_second']} records/s"
    )
    print(
        f"  {'run':<36}{'sent':>8}{'seconds':>9}{'rec/s':>8}{'CPU s/rec':>11}"
        f"{'machine CPU':>13}{'chunks':>8}"
    )
    scaling = result["scaling"]
    for name, run in (
        ("(a) sequential BACKFILL=True", result["sequential"]),
        (f"(a) backfill, {result['cores']} workers x 1 thread", result["backfill_all_cores"]),
        ("(b) backfill, 1 worker x 1 thread", scaling["one_worker"]),
        ("(b) backfill, 2 workers x 1 thread", scaling["two_workers"]),
    ):
        print(
            f"  {name:<36}{run['records_sent']:>8}{run['wall_seconds']:>9.1f}"
            f"{run['records_per_second']:>8}{run['cpu_seconds_per_record']:>11.4f}"
            f"{run['machine_cpu_utilisation']:>13.1%}{run['chunks'] or '-':>8}"
        )
    print(
        f"  (a) backfill / sequential throughput: {result['backfill_vs_sequential']:.3f} "
        f"(goal >= 0.95); backfill / hash-bound ceiling: {result['backfill_vs_ceiling']:.3f}"
    )
    print(
        f"      without the backfill's fixed {result['fixed_seconds']} s (start, plan, "
        f"shutdown): {result['steady_state_vs_sequential']:.3f} of the sequential stream's rate"
    )
    print(f"  (b) two workers / one: {scaling['speedup']:.2f}x (goal >= 1.8x)")
    print("  (d) projected hours (Kinesis-bound cells marked *):")
    rows = result["projection"]["rows"]
    header = "".join(
        f"{f'{c} cores, {s} sh':>16}" for c in PROJECTION_CORES for s in PROJECTION_SHARDS
    )
    print(f"  {'patrons':>12}{'cost':>6}{header}")
    for patrons in PROJECTION_PATRONS:
        for cost in PROJECTION_COSTS:
            cells = [r for r in rows if r["patrons"] == patrons and r["cost"] == cost]
            text = "".join(
                f"{r['hours']:>15.2f}{'*' if r['bound_by'] == 'kinesis' else ' '}" for r in cells
            )
            print(f"  {patrons:>12,}{cost:>6}{text}")
    for assumption in result["projection"]["assumptions"]:
        print(f"    - {assumption}")


def backfill_section(
    patrons: int, scaling_patrons: int, seed: int, geocoder: str = "tiger"
) -> dict[str, Any]:
    """`make bench`'s backfill section on a stack of its own, seeded with `patrons`.

    Both sides geocode with `geocoder`: by default the offline index, as a large backfill
    should (see the projection's assumptions), and so that the comparison measures Dask's
    cost rather than the local Census stand-in's CPU on the same two cores."""
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as folder:
        workdir = Path(folder)
        with EmbeddedStack(workdir) as stack:
            now = datetime.now(UTC).replace(microsecond=0)
            print(f"\n== backfill: seeding {patrons:,} patrons...", flush=True)
            with psycopg.connect(stack.sierra_admin_conninfo) as conn:
                SyntheticSierra(seed=seed).create_patrons(
                    conn, patrons, start=now - timedelta(days=400), end=now - timedelta(days=1)
                )
            settings = {"GEOCODER": geocoder}
            if "tiger" in geocoder:
                index = workdir / "tiger.sqlite"
                stack.build_tiger_index(index)
                settings["TIGER_INDEX"] = str(index)
            result = measure_backfill(
                stack, workdir, scaling_patrons=scaling_patrons, settings=settings
            )
            return {"geocoder": geocoder, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patrons", type=int, default=20_000)
    parser.add_argument("--scaling-patrons", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--geocoder", default="tiger", help="GEOCODER of every measured run")
    args = parser.parse_args()
    result = backfill_section(args.patrons, args.scaling_patrons, args.seed, args.geocoder)
    print_backfill_report(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"backfill-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"\nwritten to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
