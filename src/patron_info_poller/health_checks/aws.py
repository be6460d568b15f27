"""`s3` and `kinesis`: the state object parses and the bucket takes a write; the stream is
ACTIVE."""

from __future__ import annotations

import secrets

from botocore.exceptions import BotoCoreError, ClientError

from .. import parts
from ..aws_errors import error_code
from ..errors import PollerError, RetriesExhaustedError
from ..state.store import S3StateStore
from .context import (
    CheckContext,
    CheckFailed,
)

SCRATCH_BODY = b"written by `patron-info-poller check`; safe to delete\n"


def check_s3(ctx: CheckContext) -> str:
    c = ctx.config
    if c.ignore_cache:
        return "IGNORE_CACHE: no state in S3"
    assert c.s3_bucket and c.s3_resource  # the configuration requires them without it
    client = ctx.client("s3")
    problems: list[str] = []
    passed: list[str] = []
    store = S3StateStore(client, c.s3_bucket, c.s3_resource, parts.id_sealer(c))
    try:
        state = store.load()
    except RetriesExhaustedError as exc:
        # S3 is out of reach (botocore has retried): a write would only wait as long again.
        raise CheckFailed(f"{exc}; the write test was not tried") from None
    except PollerError as exc:  # StateError: its messages hold no value
        problems.append(str(exc))
    else:
        passed.append("no state yet" if state is None else "state parses")
    # A new key, written only if absent: nothing that exists can be overwritten.
    scratch = f"{c.s3_resource}.check-{secrets.token_hex(8)}"
    try:
        client.put_object(Bucket=c.s3_bucket, Key=scratch, Body=SCRATCH_BODY, IfNoneMatch="*")
    except (ClientError, BotoCoreError) as exc:
        problems.append(f"the bucket refused a scratch object ({error_code(exc)})")
    else:
        try:
            client.delete_object(Bucket=c.s3_bucket, Key=scratch)
        except (ClientError, BotoCoreError) as exc:
            problems.append(
                f"wrote but could not delete s3://{c.s3_bucket}/{scratch} ({error_code(exc)})"
            )
        else:
            passed.append("scratch object written and deleted")
    if problems:
        raise CheckFailed("; ".join(problems + passed))
    return "; ".join(passed)


def check_kinesis(ctx: CheckContext) -> str:
    c = ctx.config
    try:
        summary = ctx.client("kinesis").describe_stream_summary(StreamARN=c.kinesis_stream_arn)
    except ClientError as exc:
        code = error_code(exc)
        if code == "ResourceNotFoundException":
            raise CheckFailed(f"no such stream ({code})") from None
        raise CheckFailed(f"DescribeStreamSummary failed ({code})") from None
    except BotoCoreError as exc:
        raise CheckFailed(f"cannot reach Kinesis ({type(exc).__name__})") from None
    description = summary["StreamDescriptionSummary"]
    status = description.get("StreamStatus")
    shards = description.get("OpenShardCount")
    shard_text = f"{shards} open shard{'' if shards == 1 else 's'}"
    note = "; IGNORE_KINESIS: runs send nothing" if c.ignore_kinesis else ""
    if status == "ACTIVE":
        return f"ACTIVE, {shard_text}{note}"
    if status == "UPDATING":  # resharding: writes go on working
        return f"UPDATING (resharding; writes still work), {shard_text}{note}"
    raise CheckFailed(f"stream is {status}, not ACTIVE")
