"""moto's server as a real HTTP AWS endpoint (KMS, S3, Kinesis), in its own process."""

from __future__ import annotations

import atexit
import base64
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
import httpx
from botocore.config import Config

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
REGION = "us-east-1"
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
STARTUP_TIMEOUT_SECONDS = 30.0


class MotoServer:
    def __init__(self, logfile: Path):
        self.logfile = Path(logfile)
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoServer:
        self.launch()
        self.wait_until_ready()
        return self

    def launch(self) -> None:
        """Spawns the server without waiting, so its start-up overlaps other work."""
        if self._process is not None:
            return
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((HOST, 0))
            port = probe.getsockname()[1]
        self.url = f"http://{HOST}:{port}"
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        with self.logfile.open("ab") as log:
            self._process = subprocess.Popen(
                # moto.server, with Kinesis shard writes serialised (see moto_server.py).
                [sys.executable, "-m", "embedded_stack.moto_server", "-H", HOST, "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        atexit.register(self.stop)

    def wait_until_ready(self) -> None:
        try:
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        logger.info("moto listening on %s", self.url)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        atexit.unregister(self.stop)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
            config=Config(retries={"mode": "standard", "max_attempts": 3}),
        )

    def _wait_until_answering(self) -> None:
        if self._process is None:
            raise RuntimeError("moto was not launched")
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        with httpx.Client(timeout=1.0) as http:
            while True:
                if self._process.poll() is not None:
                    raise RuntimeError(f"moto exited at startup; see {self.logfile}")
                try:
                    http.get(f"{self.url}/moto-api/")
                    return
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"moto did not answer; see {self.logfile}") from None
                    time.sleep(0.05)

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def create_kms_key(kms: Any) -> str:
    return kms.create_key(Description="patron-info-poller configuration")["KeyMetadata"]["KeyId"]


def kms_encrypt(kms: Any, key_id: str, plaintext: str) -> str:
    """The base64 ciphertext, as an ENCRYPTED_VARIABLES entry holds it."""
    blob = kms.encrypt(KeyId=key_id, Plaintext=plaintext.encode("utf-8"))["CiphertextBlob"]
    return base64.b64encode(blob).decode("ascii")


def create_bucket(s3: Any, bucket: str) -> None:
    s3.create_bucket(Bucket=bucket)


def empty_bucket(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def create_stream(kinesis: Any, name: str, shards: int = 2) -> str:
    """Creates the stream, waits until it is ACTIVE and returns its ARN."""
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]


class KinesisReader:
    """Reads what was put on a stream since the previous read, across all shards."""

    def __init__(self, kinesis: Any, stream_arn: str):
        self._kinesis = kinesis
        self._stream_arn = stream_arn
        self._last_sequence: dict[str, str] = {}

    def new_records(self) -> list[bytes]:
        records: list[bytes] = []
        shards = self._kinesis.list_shards(StreamARN=self._stream_arn)["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            iterator = self._kinesis.get_shard_iterator(
                StreamARN=self._stream_arn, ShardId=shard_id, **self._position(shard_id)
            )["ShardIterator"]
            while iterator:
                page = self._kinesis.get_records(StreamARN=self._stream_arn, ShardIterator=iterator)
                if not page["Records"]:
                    break
                records.extend(record["Data"] for record in page["Records"])
                self._last_sequence[shard_id] = page["Records"][-1]["SequenceNumber"]
                iterator = page.get("NextShardIterator")
        return records

    def _position(self, shard_id: str) -> dict[str, str]:
        if shard_id in self._last_sequence:
            return {
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                "StartingSequenceNumber": self._last_sequence[shard_id],
            }
        return {"ShardIteratorType": "TRIM_HORIZON"}
