FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A backfill's Dask cluster: backfill/cluster.py's CLUSTER_CONFIG, for `dask scheduler`
# and `dask worker` (minutes-long one-thread tasks: no profiler, fewer monitors).
ENV DASK_TEMPORARY_DIRECTORY=/tmp \
    DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False \
    DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL=500ms \
    DASK_DISTRIBUTED__ADMIN__TICK__CYCLE=5s \
    DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL=5s \
    DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL=1s \
    DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION=1.0

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install .

COPY main.py ./
COPY config ./config

# dask-cloudprovider's FargateCluster starts its tasks with `dask-scheduler` and
# `dask-worker`, the commands' old names, which distributed no longer installs.
RUN printf '#!/bin/sh\nexec dask scheduler "$@"\n' > /usr/local/bin/dask-scheduler \
    && printf '#!/bin/sh\nexec dask worker "$@"\n' > /usr/local/bin/dask-worker \
    && chmod 755 /usr/local/bin/dask-scheduler /usr/local/bin/dask-worker

RUN useradd --system --uid 10001 --no-create-home poller
USER poller

# One image, three roles (the README's "Backfill" section shows them on ECS):
#   the poller, one run (the default):     ENVIRONMENT=<env>  python3 main.py
#   a backfill's scheduler:                dask scheduler                   (port 8786)
#   its workers, a process per core:       ENVIRONMENT=<env>  dask worker tcp://<scheduler>:8786
#                                            --nworkers -1 --nthreads 1
#   the backfill itself (the driver):      ENVIRONMENT=<env>  python3 main.py backfill
#                                            --scheduler tcp://<scheduler>:8786
# Workers read the configuration themselves, from /app/config and their environment.
EXPOSE 8786
CMD ["python3", "main.py"]
