"""`make bench`: the poller's throughput against the hash-bound ceiling, in one run.

On the embedded stack with seeded data: old patrons are sent and loaded into the
warehouse first (not measured); then new patrons are added, old ones updated (half of
them moving) and deleted. Each scenario is one poller run over those same changes, in its
own process, from the same saved state. In the same bench run the machine's bcrypt rate
with all cores gives the ceiling: no poller can send faster than it can hash.

Scenarios: the Census geocoder at two latency models (the default, and a slower one that
needs more requests in flight), and the offline TIGER geocoder. The geocoding section
also measures offline lookups per second on one core.

The backfill section (bench/backfill.py) runs on a stack of its own: `backfill` against
the sequential BACKFILL=True run, two workers against one, CPU-seconds per record, and a
projection to larger clusters.

    make bench                          # default workload
    make bench BENCH_ARGS="--scale 4"   # also 4x the workload, for peak RSS at both sizes
    make bench BENCH_ARGS="--backfill-patrons 0"   # without the backfill section
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from bench.backfill import backfill_section, print_backfill_report
from bench.machine import bcrypt_rate, cores, machine_cpu_seconds
from embedded_stack.stack import S3_BUCKET, S3_RESOURCE, EmbeddedStack
from embedded_stack.synthetic_addresses import AddressMaker
from embedded_stack.synthetic_sierra import SyntheticSierra
from embedded_stack.warehouse_loader import load_records, shipped_schema
from patron_info_poller.geocoding.address import Address
from patron_info_poller.geocoding.tiger_index import TigerIndex
from patron_info_poller.geocoding.tiger_matcher import TigerMatcher, lookups_per_second

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Workload:
    new: int
    updated: int
    deleted: int
    seed: int

    def scaled(self, factor: int) -> Workload:
        return Workload(self.new * factor, self.updated * factor, self.deleted * factor, self.seed)

    @property
    def records(self) -> int:
        return self.new + self.updated + self.deleted

    @property
    def hashes(self) -> int:
        # patron_id and address_hash for new and updated patrons; patron_id for deleted.
        return 2 * (self.new + self.updated) + self.deleted


@dataclass(frozen=True)
class GeocoderLatency:
    per_request_seconds: float
    per_row_seconds: float

    def __str__(self) -> str:
        return f"{self.per_request_seconds:g} s + {self.per_row_seconds * 1000:g} ms/row"


@dataclass(frozen=True)
class Scenario:
    name: str
    latency: GeocoderLatency  # of the local Census geocoder, whether used or not
    settings: dict[str, str] = field(default_factory=dict)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new", type=int, default=8000)
    parser.add_argument("--updated", type=int, default=2000)
    parser.add_argument("--deleted", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--scale", type=int, default=1, help="also run N times the workload")
    parser.add_argument("--geocoder-request-seconds", type=float, default=3.0)
    parser.add_argument("--geocoder-row-seconds", type=float, default=0.005)
    parser.add_argument("--slow-geocoder-request-seconds", type=float, default=1.0)
    parser.add_argument("--slow-geocoder-row-seconds", type=float, default=0.015)
    parser.add_argument(
        "--backfill-patrons",
        type=int,
        default=20_000,
        help="patrons for the backfill section (0 leaves it out)",
    )
    parser.add_argument("--backfill-scaling-patrons", type=int, default=6000)
    parser.add_argument(
        "--backfill-geocoder", default="tiger", help="GEOCODER of the backfill section's runs"
    )
    parser.add_argument(
        "--poller-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a poller variable for every measured run, e.g. BATCHES_IN_FLIGHT=1",
    )
    args = parser.parse_args()
    workload = Workload(args.new, args.updated, args.deleted, args.seed)
    default = GeocoderLatency(args.geocoder_request_seconds, args.geocoder_row_seconds)
    slow = GeocoderLatency(args.slow_geocoder_request_seconds, args.slow_geocoder_row_seconds)
    settings = dict(setting.split("=", 1) for setting in args.poller_setting)
    scenarios = [
        Scenario(f"census, {default}", default, settings),
        Scenario(f"census, {slow}", slow, settings),
        Scenario("tiger (offline)", default, {**settings, "GEOCODER": "tiger"}),
    ]

    document: dict = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": cores(),
        "bcrypt_cost": 7,
        "poller_settings": settings,
        "workloads": [],
    }
    sizes = [1] if args.scale == 1 else [1, args.scale]
    for size in sizes:
        # The 4x workload is for peak RSS: one scenario is enough there.
        chosen = scenarios if size == 1 else scenarios[:1]
        document["workloads"].append(measure(workload.scaled(size), size, chosen))
    if len(sizes) > 1:
        first, last = document["workloads"][0]["runs"][0], document["workloads"][-1]["runs"][0]
        document["peak_rss_ratio"] = round(last["peak_rss_mib"] / first["peak_rss_mib"], 3)
    if args.backfill_patrons > 0:
        document["backfill"] = backfill_section(
            args.backfill_patrons, args.backfill_scaling_patrons, args.seed, args.backfill_geocoder
        )
    print_report(document)
    if "backfill" in document:
        print_backfill_report(document["backfill"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(document, indent=2))
    print(f"\nwritten to {path.relative_to(ROOT)}")


def measure(workload: Workload, scale: int, scenarios: list[Scenario]) -> dict:
    print(f"\n== workload x{scale}: {workload}", flush=True)
    with ExitStack() as resources:
        workdir = Path(resources.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        stack = resources.enter_context(EmbeddedStack(workdir))
        baseline = seed(stack, workdir, workload)
        print("   building the TIGER index from the stack's county files...", flush=True)
        index = workdir / "tiger.sqlite"
        stack.build_tiger_index(index)
        print("   measuring the bcrypt ceiling...", flush=True)
        hashes_per_second = bcrypt_rate(stack.salt)
        ceiling = hashes_per_second * workload.records / workload.hashes
        runs = []
        for scenario in scenarios:
            print(f"   measuring: {scenario.name}...", flush=True)
            settings = {"TIGER_INDEX": str(index), **scenario.settings}
            run = measured_run(stack, workdir, baseline, scenario.latency, settings)
            runs.append({"scenario": scenario.name, **summarise(run, workload, ceiling)})
        result = {
            "scale": scale,
            "workload": asdict(workload),
            "bcrypt_hashes_per_second_all_cores": round(hashes_per_second, 1),
            "hash_bound_ceiling_records_per_second": round(ceiling, 1),
            "runs": runs,
        }
        if scale == 1:
            result["offline_lookups_per_second_one_core"] = offline_lookup_rate(index)
        return result


def seed(stack: EmbeddedStack, workdir: Path, workload: Workload) -> bytes:
    """Seeds the changes every scenario sends; returns the state object to start from."""
    synthetic = SyntheticSierra(seed=workload.seed)
    now = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(stack.sierra_admin_conninfo) as conn:
        old = synthetic.create_patrons(
            conn,
            workload.updated + workload.deleted,
            start=now - timedelta(days=90),
            end=now - timedelta(days=60),
        )
    print("   setup: sending the old patrons to the warehouse...", flush=True)
    run_poller(stack, workdir, {"GEOCODER_RETRY_BACKOFF_SECONDS": "0.01"})
    with psycopg.connect(stack.warehouse_admin_conninfo) as conn:
        load_records(conn, stack.warehouse_table, stack.new_kinesis_records(), shipped_schema())
    yesterday = now - timedelta(days=1)
    with psycopg.connect(stack.sierra_admin_conninfo) as conn:
        synthetic.create_patrons(conn, workload.new, start=now - timedelta(days=3), end=yesterday)
        synthetic.update_patrons(
            conn, old[: workload.updated], yesterday, change_address_fraction=0.5
        )
        synthetic.delete_patrons(conn, old[workload.updated :], yesterday.date())
    s3 = stack.moto.client("s3")
    return s3.get_object(Bucket=S3_BUCKET, Key=S3_RESOURCE)["Body"].read()


def measured_run(
    stack: EmbeddedStack,
    workdir: Path,
    baseline: bytes,
    latency: GeocoderLatency,
    settings: dict[str, str],
) -> dict:
    stack.moto.client("s3").put_object(Bucket=S3_BUCKET, Key=S3_RESOURCE, Body=baseline)
    stack.new_kinesis_records()  # skip what earlier scenarios sent
    census = stack.geocoder_app
    census.reset()
    census.faults.delay_seconds = latency.per_request_seconds
    census.faults.delay_per_row_seconds = latency.per_row_seconds
    cpu_before = machine_cpu_seconds()
    run = run_poller(stack, workdir, settings)
    run["machine_cpu_utilisation"] = (machine_cpu_seconds() - cpu_before) / (
        run["wall_seconds"] * cores()
    )
    run["records_sent"] = len(stack.new_kinesis_records())
    run["census_requests"] = len(census.received)
    run["census_max_in_flight"] = census.max_in_flight
    return run


def summarise(run: dict, workload: Workload, ceiling: float) -> dict:
    throughput = run["records_sent"] / run["wall_seconds"]
    summary = run["summary"]
    return {
        "records_sent": run["records_sent"],
        "expected_records": workload.records,
        "wall_seconds": round(run["wall_seconds"], 2),
        "throughput_records_per_second": round(throughput, 1),
        "throughput_vs_ceiling": round(throughput / ceiling, 3),
        "hashes_computed": summary["hashes_computed"],
        "geocoding": summary["geocoding"],
        "census_requests": run["census_requests"],
        "census_max_in_flight": run["census_max_in_flight"],
        "poller_cpu_utilisation": round(run["cpu_seconds"] / (run["wall_seconds"] * cores()), 3),
        "machine_cpu_utilisation": round(run["machine_cpu_utilisation"], 3),
        "peak_rss_mib": round(run["peak_rss_kib"] / 1024, 1),
        "streams": {
            s["stream"]: {
                "sent": s["sent"],
                "seconds": s["elapsed_seconds"],
                "geocode_match_rate": round(s["geocode_matched"] / s["geocode_requested"], 3)
                if s["geocode_requested"]
                else None,
                "reused_from_warehouse": s["reused_from_warehouse"],
            }
            for s in summary["streams"]
        },
    }


def run_poller(stack: EmbeddedStack, workdir: Path, settings: dict[str, str]) -> dict:
    summary_path = workdir / "summary.json"
    environment = {
        **os.environ,
        **stack.poller_environment(**{"LOG_LEVEL": "warning", **settings}),
        "ENVIRONMENT": "local",
    }
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "patron_info_poller",
            "--config-dir",
            str(ROOT / "config"),
            "--summary-json",
            str(summary_path),
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
    )
    # wait4 gives this child's own CPU time and peak RSS.
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"bench: the poller exited with {os.waitstatus_to_exitcode(status)}")
    return {
        "wall_seconds": wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_kib": usage.ru_maxrss,
        "summary": json.loads(summary_path.read_text()),
    }


def offline_lookup_rate(index: Path, count: int = 20_000) -> float:
    """Offline lookups per second on one core, over messy synthetic patron addresses."""
    maker = AddressMaker(random.Random(11))
    addresses = []
    for _ in range(count):
        parts = maker.make()
        addresses.append(Address.from_row(parts.addr1, parts.city, parts.region, parts.postal_code))
    matcher = TigerMatcher(TigerIndex.open(index))
    return round(lookups_per_second(matcher, addresses, seconds=3.0), 1)


def print_report(document: dict) -> None:
    print(f"\ncores: {document['cores']}   bcrypt cost: 7")
    if document["poller_settings"]:
        print(f"poller settings: {document['poller_settings']}")
    for workload in document["workloads"]:
        print(f"\nworkload x{workload['scale']}: {workload['workload']}")
        print(
            f"  hash-bound ceiling: {workload['bcrypt_hashes_per_second_all_cores']} hashes/s "
            f"-> {workload['hash_bound_ceiling_records_per_second']} records/s"
        )
        print(
            f"  {'scenario':<34}{'sent':>7}{'seconds':>9}{'rec/s':>8}{'ratio':>7}"
            f"{'census req':>11}{'in flight':>10}{'RSS MiB':>9}"
        )
        for run in workload["runs"]:
            print(
                f"  {run['scenario']:<34}{run['records_sent']:>7}{run['wall_seconds']:>9.1f}"
                f"{run['throughput_records_per_second']:>8}{run['throughput_vs_ceiling']:>7.1%}"
                f"{run['census_requests']:>11}{run['census_max_in_flight']:>10}"
                f"{run['peak_rss_mib']:>9}"
            )
            for name, tally in run["geocoding"].items():
                print(
                    f"      {name}: {tally['requested']} requested, {tally['matched']} matched, "
                    f"{tally['unmatched']} unmatched, {tally['ties']} ties"
                )
        if "offline_lookups_per_second_one_core" in workload:
            print(
                "  offline lookups per second on one core: "
                f"{workload['offline_lookups_per_second_one_core']:,.0f}"
            )
    if "peak_rss_ratio" in document:
        print(f"\npeak RSS ratio, largest / default workload: {document['peak_rss_ratio']}")


if __name__ == "__main__":
    main()
