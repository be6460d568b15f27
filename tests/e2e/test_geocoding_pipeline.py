"""Geocoding inside real runs: no dropped answers, providers in a chain, the summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from embedded_stack.gazetteer import NY_STATE_FIPS, STREETS
from patron_info_poller.obfuscation import obfuscate
from tests.e2e.sierra_rows import insert_patron

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def seed_matching_patrons(sierra, count: int) -> dict[int, str]:
    """Patrons whose addresses all match, by record id, with the GEOID each must get."""
    expected = {}
    for index in range(count):
        street = STREETS[index % len(STREETS)]
        number = street.low + 2 * index  # distinct addresses
        record_id = 5_000 + index
        address = (f"{number} {street.name}", street.city, "NY", street.zip_code)
        insert_patron(sierra, record_id, created=T0 + timedelta(seconds=index), address=address)
        tract, _block = street.tract_and_block(number)
        expected[record_id] = NY_STATE_FIPS + street.county_fips + tract
    return expected


def test_rows_the_geocoder_leaves_out_are_asked_again_and_get_their_geoid(poller, sierra, stack):
    expected = seed_matching_patrons(sierra, 120)
    stack.geocoder_app.faults.omit_next_rows = 8  # as the service does under load

    run = poller.run(SIERRA_BATCH_SIZE="60")

    assert stack.geocoder_app.faults.rows_omitted == 8
    by_patron = {record["patron_id"]: record["geoid"] for record in run.records}
    assert by_patron == {
        obfuscate(str(record_id), stack.salt.encode()): geoid
        for record_id, geoid in expected.items()
    }
    new = run.by_stream("new")
    assert new.geocode_reasked == 8
    assert new.geocoding["census"].matched == 120
    assert new.geocoding["census"].events["unanswered"] == 0
