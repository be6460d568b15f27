"""`backfill status`: the latest plan's progress, from its markers in S3."""

from __future__ import annotations

from typing import Any

from ..aws_clients import aws_client
from ..config import PollerConfig
from ..errors import ConfigurationError
from .store import BackfillStore


def backfill_status(config: PollerConfig) -> dict[str, Any]:
    """The latest plan's progress: the unfinished one if any, else the newest."""
    if config.ignore_cache or not (config.s3_bucket and config.s3_resource):
        raise ConfigurationError("backfill status needs S3_BUCKET and S3_RESOURCE")
    s3 = aws_client(config, "s3")
    try:
        store = BackfillStore(s3, config.s3_bucket, config.s3_resource)
        unfinished = store.unfinished_plans()
        plan = unfinished[0] if unfinished else store.latest_plan()
        if plan is None:
            return {"location": store.location(), "plan": None}
        markers = store.markers(plan.plan_id)
        progress = store.progress(plan.plan_id)
        abandoned = store.is_abandoned(plan.plan_id)
    finally:
        s3.close()
    in_flight = {
        chunk: max((int(a.get("sent", 0)) for a in attempts), default=0)
        for chunk, attempts in progress.items()
        if chunk not in markers
    }
    finished = [m.get("finished_at") for m in markers.values() if m.get("finished_at")]
    state = (
        "abandoned" if abandoned else "done" if len(markers) == plan.chunk_count else "unfinished"
    )
    return {
        "location": store.location(plan.plan_id),
        "plan": plan.plan_id,
        "state": state,
        "window": plan.window_text(),
        "started_at": plan.created_at.isoformat(),
        "chunks_done": len(markers),
        "chunks_total": plan.chunk_count,
        "patrons_planned": plan.rows,
        "records_sent": sum(int(m.get("sent", 0)) for m in markers.values()),
        "duplicates": sum(int(m.get("duplicates", 0)) for m in markers.values()),
        "chunks_in_progress": len(in_flight),
        "records_sent_by_unfinished_chunks": sum(in_flight.values()),
        "last_chunk_finished_at": max(finished) if finished else None,
    }
