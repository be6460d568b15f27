"""A fault-injecting HTTP proxy in front of moto, for Kinesis and S3.

Moto answers every PutRecords in full; the real Kinesis fails some records of a call
(throttled shards, internal failures) or whole calls, and S3 sometimes fails a write.
The poller is pointed at this proxy (AWS_ENDPOINT_URL_KINESIS / _S3) and tests set
`proxy.faults`. Records a fault rejects never reach moto, as with the real service.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import httpx
from werkzeug.wrappers import Request, Response

PUT_RECORDS_TARGET = "Kinesis_20131202.PutRecords"
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


@dataclass
class AwsFaults:
    # From PutRecords call number `kinesis_from_call` on (1-based), the next
    # `kinesis_failed_calls` calls fail whole, then the next `kinesis_partial_calls` calls
    # have their first `kinesis_failed_records` records rejected; then all is healthy.
    kinesis_from_call: int = 1
    kinesis_failed_calls: int = 0
    kinesis_call_status: int = 400  # 400 throughput exceeded, 500 internal failure
    kinesis_partial_calls: int = 0
    kinesis_failed_records: int = 0
    kinesis_error_code: str = "ProvisionedThroughputExceededException"
    s3_failed_puts: int = 0  # state writes answered with 500 InternalError
    # What got through, for the tests' tallies.
    put_records_calls: int = 0
    records_rejected: int = 0
    s3_puts_failed: int = 0


class AwsFaultProxy:
    """WSGI app: forwards to moto, bending Kinesis PutRecords and S3 PutObject answers."""

    def __init__(self, upstream_url: str):
        self.faults = AwsFaults()
        self._upstream = httpx.Client(base_url=upstream_url, timeout=60)
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.faults = AwsFaults()

    @Request.application
    def __call__(self, request: Request) -> Response:
        body = request.get_data()
        if request.headers.get("X-Amz-Target") == PUT_RECORDS_TARGET:
            return self._put_records(request, body)
        # Only the state object's writes fail: the run lock beside it is not the subject.
        is_state_write = request.method == "PUT" and not request.path.endswith(".lock")
        if is_state_write and self._take_s3_failure():
            return Response(
                "<Error><Code>InternalError</Code><Message>injected</Message></Error>",
                status=500,
                mimetype="application/xml",
            )
        return self._forward(request, body)

    def _take_s3_failure(self) -> bool:
        with self._lock:
            if self.faults.s3_failed_puts <= 0:
                return False
            self.faults.s3_failed_puts -= 1
            self.faults.s3_puts_failed += 1
            return True

    def _put_records(self, request: Request, body: bytes) -> Response:
        with self._lock:
            faults = self.faults
            faults.put_records_calls += 1
            active = faults.put_records_calls >= faults.kinesis_from_call
            fail_call = active and faults.kinesis_failed_calls > 0
            partial = active and not fail_call and faults.kinesis_partial_calls > 0
            if fail_call:
                faults.kinesis_failed_calls -= 1
            if partial:
                faults.kinesis_partial_calls -= 1
            reject = faults.kinesis_failed_records if partial else 0
            code = faults.kinesis_error_code
            status = faults.kinesis_call_status
        if fail_call:
            error = "ProvisionedThroughputExceededException" if status == 400 else "InternalFailure"
            return Response(
                json.dumps({"__type": error, "message": "injected"}),
                status=status,
                mimetype="application/x-amz-json-1.1",
            )
        document = json.loads(body)
        records = document["Records"]
        rejected = set(range(min(reject, len(records))))
        kept = [record for i, record in enumerate(records) if i not in rejected]
        answers: list[dict] = []
        if kept:
            upstream = self._forward(request, json.dumps({**document, "Records": kept}).encode())
            if upstream.status_code != 200:
                return upstream
            answers = json.loads(upstream.get_data())["Records"]
        merged = []
        for i in range(len(records)):
            if i in rejected:
                merged.append({"ErrorCode": code, "ErrorMessage": "injected"})
            else:
                merged.append(answers.pop(0))
        with self._lock:
            self.faults.records_rejected += len(rejected)
        return Response(
            json.dumps({"FailedRecordCount": len(rejected), "Records": merged}),
            mimetype="application/x-amz-json-1.1",
        )

    def _forward(self, request: Request, body: bytes) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        upstream = self._upstream.request(
            request.method,
            request.environ.get("RAW_URI") or request.full_path,
            headers=headers,
            content=body,
        )
        response_headers = [
            (k, v) for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS
        ]
        return Response(upstream.content, status=upstream.status_code, headers=response_headers)

    def close(self) -> None:
        self._upstream.close()
