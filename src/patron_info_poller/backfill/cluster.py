"""Where the chunks run: a `LocalCluster` on this machine (its cores, or `--workers N`), or
a running `dask scheduler` (`--scheduler tcp://HOST:PORT`) with `dask worker`s from the
poller's image.

On one machine each worker is a process with one thread: one per core, or `--workers N`.
Processes, not threads, because building, encoding and sending records holds the GIL:
separate processes keep every core hashing. Worker processes inherit the driver's
environment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError, RetriesExhaustedError

logger = logging.getLogger(__name__)

SCHEDULER_TIMEOUT_SECONDS = 30
# Dask's own loggers: held at WARNING whatever LOG_LEVEL says, as logs.py holds the other
# libraries (at INFO they narrate every connection, with tracebacks of routine closes).
DASK_LOGGERS = ("distributed", "dask", "tornado", "bokeh")


# Dask settings for a cluster whose tasks are minutes of bcrypt on one thread each. Its
# defaults suit many small tasks, and cost a core's worth between a few workers: a
# statistical profiler sampling every thread's stack every 10 ms, an event-loop check
# every 20 ms in every server, system and memory monitors several times a second.
# Measured on 2 idle one-thread workers over 30 s: 1.6 CPU-s each and 2.0 in the driver
# with the defaults, 0.13 and 0.32 with these. A worker holds only the chunks it runs
# (saturation 1.0): the rest wait at the scheduler for whichever worker is free first.
# The image sets the same as DASK_* variables for `dask scheduler` and `dask worker`.
CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.tick.cycle": "5s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.scheduler.worker-saturation": 1.0,
}


def quiet_dask_logs() -> None:
    import distributed  # noqa: F401  (importing it sets its loggers' levels: set them after)

    root = logging.getLogger().level
    for name in DASK_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root))


@dataclass(frozen=True)
class ClusterSpec:
    workers: int | None = None  # LocalCluster processes; None: one per core
    scheduler: str | None = None  # a running scheduler's address instead
    # Extra environment of LocalCluster workers (tests); never passed to a task.
    worker_env: dict[str, str] | None = field(default=None, repr=False)


def cores() -> int:
    """The cores this process may use (cgroup- and affinity-aware, as Dask counts them)."""
    from dask.system import CPU_COUNT

    return max(1, CPU_COUNT)


def local_shape(workers: int | None, available: int) -> tuple[int, int]:
    """(worker processes, threads each) of a LocalCluster: one-thread processes."""
    if workers is not None and workers < 1:
        raise ConfigurationError("--workers must be at least 1")
    return (available if workers is None else workers), 1


@contextmanager
def connect(spec: ClusterSpec) -> Iterator[Any]:
    """A `distributed.Client` of the cluster, closed (a LocalCluster stopped) at the end."""
    import dask
    from distributed import Client, LocalCluster

    quiet_dask_logs()
    if spec.scheduler is not None:
        try:
            client = Client(spec.scheduler, timeout=SCHEDULER_TIMEOUT_SECONDS)
        except (OSError, TimeoutError) as exc:
            raise RetriesExhaustedError(
                f"cannot reach the Dask scheduler at {spec.scheduler} ({type(exc).__name__})"
            ) from exc
        with client:
            try:
                client.wait_for_workers(1, timeout=SCHEDULER_TIMEOUT_SECONDS)
            except TimeoutError as exc:
                raise RetriesExhaustedError(
                    f"no Dask worker joined the scheduler at {spec.scheduler} within "
                    f"{SCHEDULER_TIMEOUT_SECONDS} s"
                ) from exc
            logger.info(
                "Connected to the Dask scheduler",
                extra={"scheduler": spec.scheduler, "workers": workers_and_threads(client)[0]},
            )
            yield client
        return
    processes, threads = local_shape(spec.workers, cores())
    with (
        dask.config.set(CLUSTER_CONFIG),
        LocalCluster(
            n_workers=processes,
            threads_per_worker=threads,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.WARNING,
            env=spec.worker_env or None,
        ) as cluster,
        Client(cluster) as client,
    ):
        logger.info("Local Dask cluster started", extra={"workers": processes, "threads": threads})
        yield client


def workers_and_threads(client: Any) -> tuple[int, int]:
    """(workers, threads in all) of the cluster as the scheduler knows it now."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    return len(workers), sum(int(w.get("nthreads", 1)) for w in workers.values())
