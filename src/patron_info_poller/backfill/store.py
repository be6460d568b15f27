"""A backfill's objects in S3, beside the state: `<S3_RESOURCE>.backfill/<plan id>/`.

    plan.json                      the plan, written once (If-None-Match: *)
    chunks/<n>.json                chunk n is done: every record was accepted by Kinesis
    progress/<n>/<attempt>.json    what one attempt at chunk n has sent so far, rewritten
                                   after each sent batch; a later attempt counts what an
                                   earlier, dead one sent as duplicates
    abandoned.json                 `backfill --restart` gave this plan up

None of them holds a plaintext record id: the plan's boundaries are sealed, and markers
and progress hold counts and obfuscated patron_ids only. Dry runs write none of them.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..aws_errors import CONDITION_FAILED_CODES, NOT_FOUND_CODES, error_code
from ..errors import RetriesExhaustedError, StateConflictError, StateError
from .plan import BackfillPlan

logger = logging.getLogger(__name__)

_CHUNK_MARKER = re.compile(r"chunks/(\d+)\.json$")


class BackfillStore:
    def __init__(self, s3: Any, bucket: str, state_key: str):
        self._s3 = s3
        self.bucket = bucket
        self.prefix = f"{state_key}.backfill/"

    def location(self, plan_id: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}{plan_id}{'/' if plan_id else ''}"

    def plan_key(self, plan_id: str) -> str:
        return f"{self.prefix}{plan_id}/plan.json"

    # The plan
    def create_plan(self, plan: BackfillPlan) -> None:
        """Writes plan.json once; a plan of that id already there is never overwritten."""
        body = json.dumps(plan.to_json(), indent=1).encode()
        if not self._put(self.plan_key(plan.plan_id), body, create_only=True):
            raise StateConflictError(
                f"a backfill plan {plan.plan_id} already exists at {self.location(plan.plan_id)}"
            )

    def load_plan(self, plan_id: str) -> BackfillPlan:
        document = self._get_json(self.plan_key(plan_id))
        if document is None:
            raise StateError(f"no backfill plan at {self.location(plan_id)}plan.json")
        return BackfillPlan.from_json(document, self.location(plan_id))

    def plan_ids(self) -> list[str]:
        """Every plan's id, oldest first (ids sort by creation time)."""
        ids = []
        for page in self._pages(self.prefix, delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                ids.append(common["Prefix"][len(self.prefix) :].rstrip("/"))
        return sorted(ids)

    def unfinished_plans(self) -> list[BackfillPlan]:
        """Plans neither abandoned nor done, newest first. A plan that cannot be read (a
        damaged object, a format this version does not know) is left out with a warning:
        one bad object must not block every later backfill."""
        unfinished = []
        for plan_id in reversed(self.plan_ids()):
            if self.is_abandoned(plan_id):
                continue
            plan = self._readable_plan(plan_id)
            if plan is not None and len(self.done_chunks(plan_id)) < plan.chunk_count:
                unfinished.append(plan)
        return unfinished

    def latest_finished_plan(self) -> BackfillPlan | None:
        """The newest plan whose every chunk is done, unless a newer one was abandoned."""
        for plan_id in reversed(self.plan_ids()):
            if self.is_abandoned(plan_id):
                return None
            plan = self._readable_plan(plan_id)
            if plan is not None and len(self.done_chunks(plan_id)) >= plan.chunk_count:
                return plan
            return None
        return None

    def latest_plan(self) -> BackfillPlan | None:
        ids = self.plan_ids()
        return self.load_plan(ids[-1]) if ids else None

    def _readable_plan(self, plan_id: str) -> BackfillPlan | None:
        try:
            return self.load_plan(plan_id)
        except StateError as exc:
            logger.warning(
                "Backfill plan unreadable, left out", extra={"plan_id": plan_id, "error": str(exc)}
            )
            return None

    # Chunk markers
    def marker_key(self, plan_id: str, chunk: int) -> str:
        return f"{self.prefix}{plan_id}/chunks/{chunk}.json"

    def done_chunks(self, plan_id: str) -> set[int]:
        done = set()
        for page in self._pages(f"{self.prefix}{plan_id}/chunks/"):
            for item in page.get("Contents", []):
                match = _CHUNK_MARKER.search(item["Key"])
                if match:
                    done.add(int(match[1]))
        return done

    def markers(self, plan_id: str) -> dict[int, dict[str, Any]]:
        markers = {}
        for chunk in sorted(self.done_chunks(plan_id)):
            document = self._get_json(self.marker_key(plan_id, chunk))
            if isinstance(document, dict):
                markers[chunk] = document
        return markers

    def marker(self, plan_id: str, chunk: int) -> dict[str, Any] | None:
        document = self._get_json(self.marker_key(plan_id, chunk))
        return document if isinstance(document, dict) else None

    def write_marker(self, plan_id: str, chunk: int, marker: dict[str, Any]) -> bool:
        """Chunk `chunk` is done. False when another attempt had already written its
        marker (that one stands)."""
        body = json.dumps(marker, sort_keys=True).encode()
        return self._put(self.marker_key(plan_id, chunk), body, create_only=True)

    # Progress of attempts
    def write_progress(self, plan_id: str, chunk: int, attempt: str, doc: dict[str, Any]) -> None:
        key = f"{self.prefix}{plan_id}/progress/{chunk}/{attempt}.json"
        self._put(key, json.dumps(doc, sort_keys=True).encode())

    def attempts(self, plan_id: str, chunk: int) -> list[dict[str, Any]]:
        """The progress of every attempt at `chunk` that sent at least one batch."""
        found = []
        for page in self._pages(f"{self.prefix}{plan_id}/progress/{chunk}/"):
            for item in page.get("Contents", []):
                document = self._get_json(item["Key"])
                if isinstance(document, dict):
                    found.append(document)
        return found

    def progress(self, plan_id: str) -> dict[int, list[dict[str, Any]]]:
        """Every attempt's progress, by chunk."""
        by_chunk: dict[int, list[dict[str, Any]]] = {}
        for page in self._pages(f"{self.prefix}{plan_id}/progress/"):
            for item in page.get("Contents", []):
                document = self._get_json(item["Key"])
                if isinstance(document, dict) and isinstance(document.get("chunk"), int):
                    by_chunk.setdefault(document["chunk"], []).append(document)
        return by_chunk

    # Abandoning
    def abandon(self, plan_id: str, doc: dict[str, Any]) -> None:
        self._put(f"{self.prefix}{plan_id}/abandoned.json", json.dumps(doc).encode())

    def is_abandoned(self, plan_id: str) -> bool:
        return self._get_json(f"{self.prefix}{plan_id}/abandoned.json") is not None

    # S3, with errors by tier and named by code only
    def _put(self, key: str, body: bytes, *, create_only: bool = False) -> bool:
        condition = {"IfNoneMatch": "*"} if create_only else {}
        try:
            self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", **condition
            )
        except ClientError as exc:
            if create_only and error_code(exc) in CONDITION_FAILED_CODES:
                return False
            raise self._failure("write", key, exc) from exc
        except BotoCoreError as exc:
            raise self._failure("write", key, exc) from exc
        return True

    def _get_json(self, key: str) -> Any:
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                return None
            raise self._failure("read", key, exc) from exc
        except BotoCoreError as exc:
            raise self._failure("read", key, exc) from exc
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise StateError(f"s3://{self.bucket}/{key} is not JSON") from None

    def _pages(self, prefix: str, delimiter: str | None = None) -> Any:
        arguments = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            arguments["Delimiter"] = delimiter
        try:
            yield from self._s3.get_paginator("list_objects_v2").paginate(**arguments)
        except (ClientError, BotoCoreError) as exc:
            raise self._failure("list", prefix, exc) from exc

    def _failure(self, action: str, key: str, exc: BaseException) -> RetriesExhaustedError:
        return RetriesExhaustedError(
            f"could not {action} s3://{self.bucket}/{key} ({error_code(exc)})"
        )
