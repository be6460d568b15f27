"""The real pipeline against the real stack: PostgreSQL, moto over HTTP, the local geocoder."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta

import bcrypt
import fastavro

from patron_info_poller.obfuscation import obfuscate
from tests.e2e.sierra_rows import NYC_ADDRESS, NYC_GEOID, add_address, delete, insert_patron, touch
from tests.e2e.state_objects import put_state, saved_state, state_document

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def pid(stack, record_id) -> str:
    return obfuscate(str(record_id), stack.salt.encode())


def test_new_patrons_become_records_with_hashes_geoids_and_state(poller, sierra, stack):
    for offset, record_id in enumerate(range(1001, 1011)):
        insert_patron(sierra, record_id, created=T0 + timedelta(minutes=offset))
    insert_patron(sierra, 2001, created=T0, address=None)

    run = poller.run()

    assert sorted(r["patron_id"] for r in run.records) == sorted(
        pid(stack, i) for i in [*range(1001, 1011), 2001]
    )
    first = next(r for r in run.records if r["patron_id"] == pid(stack, 1001))
    expected_hash = obfuscate("1001_" + "_".join(NYC_ADDRESS), stack.salt.encode())
    assert first["address_hash"] == expected_hash
    assert first["geoid"] == NYC_GEOID
    assert first["postal_code"] == "10036"
    assert first["creation_date_et"] == "2024-06-01"
    assert next(r for r in run.records if r["patron_id"] == pid(stack, 2001))["geoid"] is None
    # No patron identifier reaches the geocoder: its CSV ids are row numbers.
    sent_ids = [i for request in stack.geocoder_app.received for i in request.row_ids]
    assert sorted(sent_ids, key=int) == [str(i) for i in range(10)]
    state = saved_state(stack)
    assert state.new.last_id == 1010
    assert state.new.value == T0 + timedelta(minutes=9)
    # The id rests sealed: no plaintext record id in the object.
    assert "1010" not in json.dumps(state_document(stack))
    assert run.by_stream("updated").already_sent == 11
    assert run.by_stream("new").match_rate == 1.0


def test_each_kinesis_record_is_exactly_one_avro_datum(poller, sierra):
    insert_patron(sierra, 1001, created=T0)
    insert_patron(sierra, 1002, created=T0)
    run = poller.run()
    parsed = fastavro.parse_schema(poller.schema)
    for payload in run.raw:
        buffer = io.BytesIO(payload)
        fastavro.schemaless_reader(buffer, parsed, None)
        assert buffer.tell() == len(payload)
    assert len(run.raw) == 2


def test_a_second_run_sends_nothing(poller, sierra):
    for record_id in range(1, 40):
        insert_patron(sierra, record_id, created=T0 + timedelta(seconds=record_id % 3))
    assert len(poller.run(SIERRA_BATCH_SIZE="7").records) == 39
    again = poller.run(SIERRA_BATCH_SIZE="7")
    assert again.records == []


def test_mass_update_on_one_timestamp_neither_stalls_nor_repeats(poller, sierra, stack):
    ids = list(range(10_000, 11_050))
    sierra.execute(
        "INSERT INTO sierra_view.record_metadata (id, record_type_code, record_num,"
        " creation_date_gmt, record_last_updated_gmt)"
        " SELECT i, 'p', i, %s, %s FROM unnest(%s::bigint[]) AS i",
        (T0, T0, ids),
    )
    sierra.execute(
        "INSERT INTO sierra_view.patron_view (id, record_num, ptype_code)"
        " SELECT i, i, 10 FROM unnest(%s::bigint[]) AS i",
        (ids,),
    )
    # They were sent as new long ago; a year-end job then touches all at one instant.
    put_state(
        stack,
        {
            "creation_dt": "2024-06-02T00:00:00+00:00",
            "update_dt": "2024-06-02T00:00:00+00:00",
            "deletion_date": "2024-06-02",
        },
    )
    year_end = datetime(2024, 12, 31, 23, 0, tzinfo=UTC)
    touch(sierra, ids, year_end)

    run = poller.run(SIERRA_BATCH_SIZE="500")

    assert run.by_stream("updated").batches == 3
    assert sorted(r["patron_id"] for r in run.records) == sorted(pid(stack, i) for i in ids)
    assert saved_state(stack).updated.last_id == ids[-1]
    assert poller.run(SIERRA_BATCH_SIZE="500").records == []


def test_updates_reuse_warehouse_geoids_and_deletions_take_warehouse_fields(poller, sierra):
    stack = poller.stack
    for record_id in range(1, 7):
        insert_patron(sierra, record_id, created=T0, library="mu")
    first = poller.run()
    assert poller.load_into_warehouse(first.raw) == 6

    later = T0 + timedelta(days=1)
    # 1-2: same address (known to the warehouse); 3: moved; 4: library changed only.
    touch(sierra, [1, 2, 4], later)
    sierra.execute(
        "UPDATE sierra_view.patron_record_address SET addr1 = '100 W 125th St',"
        " postal_code = '10027' WHERE patron_record_id = 3"
    )
    touch(sierra, [3], later)
    sierra.execute("UPDATE sierra_view.patron_view SET home_library_code = 'hp' WHERE id = 4")
    delete(sierra, [5], date(2024, 6, 3))
    insert_patron(sierra, 99, created=T0, deleted=date(2024, 6, 3), address=None)
    geocoder_requests_before = len(stack.geocoder_app.received)

    second = poller.run()

    by_id = {r["patron_id"]: r for r in second.records}
    assert set(by_id) == {pid(stack, i) for i in (1, 2, 3, 4, 5, 99)}
    assert by_id[pid(stack, 1)]["geoid"] == NYC_GEOID
    assert by_id[pid(stack, 3)]["geoid"] == "36061022200"
    assert by_id[pid(stack, 3)]["initial_patron_home_library_code"] == "mu"
    assert by_id[pid(stack, 4)]["patron_home_library_code"] == "hp"
    assert by_id[pid(stack, 4)]["initial_patron_home_library_code"] == "mu"
    assert second.by_stream("updated").reused_from_warehouse == 3
    # Only the moved patron's address went to the geocoder.
    new_requests = stack.geocoder_app.received[geocoder_requests_before:]
    assert sum(r.row_count for r in new_requests) == 1
    deleted = by_id[pid(stack, 5)]
    assert deleted["deletion_date_et"] == "2024-06-03"
    assert deleted["geoid"] == NYC_GEOID and deleted["ptype_code"] == 10
    unknown = by_id[pid(stack, 99)]
    assert unknown["deletion_date_et"] == "2024-06-03"
    assert unknown["creation_date_et"] == "2024-06-01"
    assert unknown["geoid"] is None and unknown["address_hash"] is None


def test_rows_at_or_after_the_frozen_now_wait_for_the_next_run(poller, sierra):
    now = datetime.now(UTC)
    insert_patron(sierra, 1, created=now - timedelta(hours=1))
    insert_patron(sierra, 2, created=now + timedelta(hours=1))
    insert_patron(sierra, 3, created=T0, deleted=now.date())  # today is not over
    run = poller.run()
    assert [r["patron_id"] for r in run.records] == [pid(poller.stack, 1)]
    state = saved_state(poller.stack)
    assert state.new.last_id == 1
    assert state.deleted.last_id is None


def test_commit_lag_holds_back_recent_rows(poller, sierra):
    now = datetime.now(UTC)
    insert_patron(sierra, 1, created=now - timedelta(seconds=5))
    assert poller.run(SIERRA_COMMIT_LAG_SECONDS="60").records == []
    assert len(poller.run(SIERRA_COMMIT_LAG_SECONDS="0").records) == 1


def test_old_poller_state_without_ids_is_read_inclusively(poller, sierra, stack):
    for record_id in (1, 2, 3):
        insert_patron(sierra, record_id, created=T0)
    insert_patron(sierra, 4, created=T0 - timedelta(seconds=1))
    old_state = {
        "creation_dt": "2024-06-01 08:00:00-04",
        "update_dt": "2030-01-01 00:00:00-05",
        "deletion_date": "2030-01-01",
    }
    put_state(stack, old_state)
    run = poller.run()
    assert sorted(r["patron_id"] for r in run.records) == sorted(pid(stack, i) for i in (1, 2, 3))
    assert saved_state(stack).new.last_id == 3


def test_one_address_per_patron_lowest_display_order_then_type(poller, sierra, stack):
    insert_patron(sierra, 1, created=T0, address=None)
    add_address(sierra, 1, ("1 Nowhere Rd", "X", "NY", "00000"), display_order=1, type_id=1)
    add_address(
        sierra, 1, ("100 W 125th St", "New York", "NY", "10027"), display_order=0, type_id=2
    )
    add_address(sierra, 1, ("2 Nowhere Rd", "X", "NY", "00000"), display_order=0, type_id=3)
    record = poller.run().records[0]
    assert record["geoid"] == "36061022200"
    assert record["address_hash"] == obfuscate(
        "1_100 W 125th St_New York_NY_10027", stack.salt.encode()
    )


def test_long_address_hash_matches_bcrypt_of_first_72_bytes(poller, sierra, stack):
    address = (
        "350 West 42nd Street, Apartment 12B, Rear Building",
        "New York",
        "New York",
        "10036-1234",
    )
    insert_patron(sierra, 481036000123, created=T0, address=address)
    record = poller.run().records[0]
    plaintext = ("481036000123_" + "_".join(address)).encode()
    assert len(plaintext) > 72
    expected = bcrypt.hashpw(plaintext[:72], stack.salt.encode()).decode()[29:]
    assert record["address_hash"] == expected


def test_backfill_max_batches_and_ignore_kinesis(poller, sierra):
    for record_id in range(1, 11):
        insert_patron(sierra, record_id, created=T0 + timedelta(seconds=record_id))
    delete(sierra, [10], date(2024, 6, 2))
    run = poller.run(BACKFILL="True", MAX_BATCHES="2", SIERRA_BATCH_SIZE="3")
    assert [s.stream for s in run.summary.streams] == ["new"]
    assert len(run.records) == 6
    state_before = state_document(poller.stack)
    quiet = poller.run(IGNORE_KINESIS="True")
    assert quiet.records == [] and quiet.summary.streams[0].sent == 3
    # A dry run reads the state but never moves it past what it did not deliver.
    assert state_document(poller.stack) == state_before


def test_ignore_cache_starts_from_the_starting_variables(poller, sierra, stack):
    insert_patron(sierra, 1, created=T0)
    insert_patron(sierra, 2, created=T0 + timedelta(days=30))
    start = "2024-06-15 00:00:00-04"
    run = poller.run(IGNORE_CACHE="True", STARTING_CREATION_DT=start, STARTING_UPDATE_DT=start)
    assert [r["patron_id"] for r in run.records] == [pid(stack, 2)]
    # The updated stream starts where it is told: from 2020, patron 1 is an update.
    run = poller.run(IGNORE_CACHE="True", STARTING_CREATION_DT=start)
    assert sorted(r["patron_id"] for r in run.records) == sorted([pid(stack, 1), pid(stack, 2)])
    assert state_document(stack) is None


def test_partition_keys_spread_records_across_shards(poller, sierra, stack):
    for record_id in range(1, 201):
        insert_patron(sierra, record_id, created=T0, address=None)
    poller.run()
    kinesis = stack._clients["kinesis"]
    per_shard = []
    for shard in kinesis.list_shards(StreamARN=stack.kinesis_stream_arn)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamARN=stack.kinesis_stream_arn,
            ShardId=shard["ShardId"],
            ShardIteratorType="TRIM_HORIZON",
        )["ShardIterator"]
        records = kinesis.get_records(
            StreamARN=stack.kinesis_stream_arn, ShardIterator=iterator, Limit=10_000
        )
        per_shard.append(len(records["Records"]))
    assert len(per_shard) == 2 and min(per_shard) > 40
