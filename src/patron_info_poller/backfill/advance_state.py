"""`backfill --advance-state`: once every chunk is done, the new stream's cursor moves to
the plan's end, only forward, and only if the backfill sent everything after it."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

from .. import parts
from ..config import PollerConfig
from ..cursor import Cursor
from ..errors import StateConflictError
from ..state.store import PollerState
from ..streams import NEW
from .plan import BackfillPlan

logger = logging.getLogger("patron_info_poller.backfill.driver")

STATE_WRITE_TRIES = 3


AdvanceDecision = Literal["advance", "not behind", "before the window"]


def advance_decision(cursor: Cursor, since: datetime, upper: datetime) -> AdvanceDecision:
    """Whether the new stream's cursor may move to `upper` after a backfill of
    [since, upper): only forward, and only if the backfill sent everything after it."""
    if cursor.value >= upper:
        return "not behind"
    if cursor.value < since:
        return "before the window"  # patrons created in [cursor, since) were never sent
    return "advance"


def advance_new_cursor(config: PollerConfig, plan: BackfillPlan) -> str:
    """Moves the new stream's cursor to the plan's end if it is behind it and within the
    window, with a conditional write (retried on a lost race, re-reading the state)."""
    store = parts.s3_state_store(config)
    upper = plan.upper
    for attempt in range(1, STATE_WRITE_TRIES + 1):
        state: PollerState = store.load() or parts.initial_state(config)
        cursor = state.new
        decision = advance_decision(cursor, plan.since, upper)
        if decision != "advance":
            message = (
                f"new cursor left at {cursor.value.isoformat()}: {decision} "
                f"[{plan.since.isoformat()}, {upper.isoformat()})"
            )
            if decision == "before the window":
                message += "; patrons created before the window were not sent by this backfill"
                logger.warning("New cursor not advanced", extra={"reason": decision})
            return message
        moved = state.with_cursor(NEW, Cursor(upper))
        caught_up = state.caught_up_as_of.get(NEW.name)
        if caught_up is None or caught_up < upper:
            moved = moved.with_caught_up(NEW, upper)
        try:
            store.save(moved)
        except StateConflictError:
            if attempt == STATE_WRITE_TRIES:
                raise
            continue
        logger.info("New cursor advanced", extra={"to": upper.isoformat()})
        return f"new cursor {cursor.value.isoformat()} -> {upper.isoformat()}"
    raise AssertionError("unreachable")  # pragma: no cover
