"""Overlapping stages change how fast a run goes, never what it sends or where it stops."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from embedded_stack.stack import S3_BUCKET, S3_RESOURCE
from embedded_stack.synthetic_sierra import SyntheticSierra
from tests.e2e.state_objects import saved_state


def test_overlapped_run_sends_what_a_one_batch_run_sends(poller, sierra, stack):
    synthetic = SyntheticSierra(seed=11)
    now = datetime.now(UTC)
    old = synthetic.create_patrons(
        sierra, 300, start=now - timedelta(days=30), end=now - timedelta(days=20)
    )
    poller.load_into_warehouse(poller.run(SIERRA_BATCH_SIZE="100").raw)
    synthetic.create_patrons(
        sierra, 400, start=now - timedelta(days=3), end=now - timedelta(days=2)
    )
    synthetic.update_patrons(
        sierra, old[:150], now - timedelta(days=2), change_address_fraction=0.5
    )
    synthetic.delete_patrons(sierra, old[-60:], (now - timedelta(days=2)).date())
    s3 = stack._clients["s3"]
    state_before = s3.get_object(Bucket=S3_BUCKET, Key=S3_RESOURCE)["Body"].read()

    def run(**settings: str) -> tuple[list[str], tuple]:
        s3.put_object(Bucket=S3_BUCKET, Key=S3_RESOURCE, Body=state_before)
        result = poller.run(SIERRA_BATCH_SIZE="50", **settings)
        state = saved_state(stack)
        # Where each cursor stands, and which streams were drained (each run has its own
        # frozen now, so the caught-up instants themselves differ).
        stands = (state.new, state.updated, state.deleted, sorted(state.caught_up_as_of))
        return sorted(json.dumps(r, sort_keys=True) for r in result.records), stands

    one_at_a_time = run(BATCHES_IN_FLIGHT="1", GEOCODER_CONCURRENCY="1")
    stack.geocoder_app.reset()
    stack.geocoder_app.faults.delay_seconds = 0.6
    overlapped = run(BATCHES_IN_FLIGHT="4", GEOCODER_CONCURRENCY="3")

    assert stack.geocoder_app.max_in_flight >= 2
    assert len(one_at_a_time[0]) == 400 + 150 + 60
    assert overlapped == one_at_a_time
