"""Backfill at any scale: every patron created in a window, in parallel chunks on Dask,
resumable.

- `plan.py`: the plan (window, frozen bound, sealed chunk boundaries, chunk sizing);
- `store.py`: its objects in S3 (plan, chunk markers, progress, abandoned);
- `chunk.py`: one chunk as a Dask task, a pipeline run over the chunk's id range;
- `limits.py`: limits shared across the cluster (Kinesis budget, semaphores);
- `cluster.py`: a LocalCluster, or a running scheduler;
- `driver.py`: plan or resume, submit the chunks, follow them to the end;
- `progress.py`: progress while it runs, the summary at the end;
- `advance_state.py`: `--advance-state`, the new cursor moved forward only;
- `status.py`: `backfill status`.
"""
