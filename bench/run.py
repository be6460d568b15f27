"""`make bench`: the poller's throughput against the hash-bound ceiling, in one run.

On the embedded stack with seeded data: old patrons are sent and loaded into the
warehouse first (not measured); then new patrons are added, old ones updated (half of
them moving) and deleted, and one poller run, in its own process, is measured. In the same
bench run the machine's bcrypt rate with all cores gives the ceiling: no poller can send
faster than it can hash.

    make bench                          # default workload
    make bench BENCH_ARGS="--scale 4"   # also 4x the workload, for peak RSS at both sizes
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from embedded_stack.stack import EmbeddedStack
from embedded_stack.synthetic_sierra import SyntheticSierra
from embedded_stack.warehouse_loader import load_records, shipped_schema
from patron_info_poller.obfuscation import Obfuscator

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new", type=int, default=8000)
    parser.add_argument("--updated", type=int, default=2000)
    parser.add_argument("--deleted", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--scale", type=int, default=1, help="also run N times the workload")
    parser.add_argument("--geocoder-request-seconds", type=float, default=3.0)
    parser.add_argument("--geocoder-row-seconds", type=float, default=0.005)
    parser.add_argument(
        "--poller-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a poller variable for the measured run, e.g. BATCHES_IN_FLIGHT=1",
    )
    args = parser.parse_args()
    workload = Workload(args.new, args.updated, args.deleted, args.seed)
    latency = GeocoderLatency(args.geocoder_request_seconds, args.geocoder_row_seconds)
    settings = dict(setting.split("=", 1) for setting in args.poller_setting)

    sizes = [1] if args.scale == 1 else [1, args.scale]
    results = [measure(workload.scaled(size), size, latency, settings) for size in sizes]
    document = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "bcrypt_cost": 7,
        "geocoder_latency": asdict(latency),
        "poller_settings": settings,
        "runs": results,
    }
    if len(results) > 1:
        document["peak_rss_ratio"] = round(
            results[-1]["peak_rss_mib"] / results[0]["peak_rss_mib"], 3
        )
    print_table(document)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(document, indent=2))
    print(f"\nwritten to {path.relative_to(ROOT)}")


def measure(
    workload: Workload, scale: int, latency: GeocoderLatency, settings: dict[str, str]
) -> dict:
    print(f"\n== workload x{scale}: {workload}", flush=True)
    synthetic = SyntheticSierra(seed=workload.seed)
    now = datetime.now(UTC).replace(microsecond=0)
    with (
        tempfile.TemporaryDirectory(prefix="patron-info-bench-") as workdir,
        EmbeddedStack(Path(workdir)) as stack,
    ):
        with psycopg.connect(stack.sierra_admin_conninfo) as conn:
            old = synthetic.create_patrons(
                conn,
                workload.updated + workload.deleted,
                start=now - timedelta(days=90),
                end=now - timedelta(days=60),
            )
        print("   setup: sending the old patrons to the warehouse...", flush=True)
        run_poller(stack, Path(workdir), {})
        with psycopg.connect(stack.warehouse_admin_conninfo) as conn:
            load_records(conn, stack.warehouse_table, stack.new_kinesis_records(), shipped_schema())
        yesterday = now - timedelta(days=1)
        with psycopg.connect(stack.sierra_admin_conninfo) as conn:
            synthetic.create_patrons(
                conn, workload.new, start=now - timedelta(days=3), end=yesterday
            )
            synthetic.update_patrons(
                conn, old[: workload.updated], yesterday, change_address_fraction=0.5
            )
            synthetic.delete_patrons(conn, old[workload.updated :], yesterday.date())

        print("   measuring the bcrypt ceiling...", flush=True)
        hashes_per_second = bcrypt_rate(stack.salt)
        faults = stack.geocoder_app.faults
        faults.delay_seconds = latency.per_request_seconds
        faults.delay_per_row_seconds = latency.per_row_seconds
        print("   measuring the poller...", flush=True)
        cpu_before = machine_cpu_seconds()
        run = run_poller(stack, Path(workdir), settings)
        machine_busy = (machine_cpu_seconds() - cpu_before) / (run["wall_seconds"] * cores())
        sent = len(stack.new_kinesis_records())

    ceiling = hashes_per_second * workload.records / workload.hashes
    throughput = sent / run["wall_seconds"]
    return {
        "scale": scale,
        "workload": asdict(workload),
        "records_sent": sent,
        "hashes_computed": run["summary"]["hashes_computed"],
        "bcrypt_hashes_per_second_all_cores": round(hashes_per_second, 1),
        "hash_bound_ceiling_records_per_second": round(ceiling, 1),
        "throughput_records_per_second": round(throughput, 1),
        "throughput_vs_ceiling": round(throughput / ceiling, 3),
        "streams": {
            s["stream"]: {
                "sent": s["sent"],
                "seconds": s["elapsed_seconds"],
                "records_per_second": round(s["sent"] / s["elapsed_seconds"], 1)
                if s["elapsed_seconds"]
                else None,
                "geocode_match_rate": round(s["geocode_matched"] / s["geocode_requested"], 3)
                if s["geocode_requested"]
                else None,
                "reused_from_warehouse": s["reused_from_warehouse"],
            }
            for s in run["summary"]["streams"]
        },
        "wall_seconds": round(run["wall_seconds"], 2),
        "poller_cpu_utilisation": round(run["cpu_seconds"] / (run["wall_seconds"] * cores()), 3),
        "machine_cpu_utilisation": round(machine_busy, 3),
        "peak_rss_mib": round(run["peak_rss_kib"] / 1024, 1),
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
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"bench: the poller exited with {process.returncode}")
    return {
        "wall_seconds": wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_kib": usage.ru_maxrss,
        "summary": json.loads(summary_path.read_text()),
    }


def bcrypt_rate(salt: str, seconds: float = 4.0) -> float:
    """Hashes per second with every core busy, through the poller's own Obfuscator."""
    obfuscator = Obfuscator(salt)
    try:
        obfuscator.obfuscate_many([f"warmup-{i}" for i in range(cores() * 4)])
        done, started, round_number = 0, time.monotonic(), 0
        while time.monotonic() - started < seconds:
            values = [f"ceiling-{round_number}-{i}" for i in range(cores() * 50)]
            obfuscator.obfuscate_many(values)
            done += len(values)
            round_number += 1
        return done / (time.monotonic() - started)
    finally:
        obfuscator.close()


def machine_cpu_seconds() -> float:
    """Busy CPU seconds of the whole machine so far (every process, every core)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cores() -> int:
    return os.cpu_count() or 1


def print_table(document: dict) -> None:
    latency = document["geocoder_latency"]
    print(
        f"\ncores: {document['cores']}   bcrypt cost: 7   geocoder latency model: "
        f"{latency['per_request_seconds']} s per request + "
        f"{latency['per_row_seconds'] * 1000:g} ms per row"
    )
    if document["poller_settings"]:
        print(f"poller settings: {document['poller_settings']}")
    for run in document["runs"]:
        print(f"\nworkload x{run['scale']}: {run['workload']}")
        print(f"  {'stream':<10}{'sent':>8}{'seconds':>10}{'records/s':>12}{'match':>8}")
        for name, stream in run["streams"].items():
            rate = stream["records_per_second"]
            match = stream["geocode_match_rate"]
            print(
                f"  {name:<10}{stream['sent']:>8}{stream['seconds']:>10.1f}"
                f"{rate if rate is not None else '-':>12}"
                f"{f'{match:.1%}' if match is not None else '-':>8}"
            )
        print(
            f"  overall: {run['records_sent']} records in {run['wall_seconds']} s = "
            f"{run['throughput_records_per_second']} records/s"
        )
        print(
            f"  hash-bound ceiling: {run['bcrypt_hashes_per_second_all_cores']} hashes/s "
            f"-> {run['hash_bound_ceiling_records_per_second']} records/s; "
            f"throughput is {run['throughput_vs_ceiling']:.1%} of it"
        )
        print(
            f"  CPU: poller {run['poller_cpu_utilisation']:.1%}, machine "
            f"{run['machine_cpu_utilisation']:.1%}; peak RSS {run['peak_rss_mib']} MiB"
        )
    if "peak_rss_ratio" in document:
        print(f"\npeak RSS ratio, largest / default workload: {document['peak_rss_ratio']}")


if __name__ == "__main__":
    main()
