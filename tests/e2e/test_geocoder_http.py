"""The geocoder client against the local Census batch server, over real HTTP."""

import logging
import time

import httpx
import pytest

from embedded_stack.census_geocoder import ADDRESSBATCH_PATH, CensusGeocoderApp
from embedded_stack.gazetteer import NY_STATE_FIPS, STREETS
from embedded_stack.http_service import LocalHttpService
from patron_info_poller.errors import GeocoderUnavailableError
from patron_info_poller.geocoding.address import Address
from patron_info_poller.geocoding.census import CensusGeocoder, CensusSettings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def census_server():
    app = CensusGeocoderApp()
    with LocalHttpService(app) as service:
        app.url = service.base_url + ADDRESSBATCH_PATH
        yield app


@pytest.fixture
def census(census_server):
    census_server.reset(seed=7)
    return census_server


def settings_for(census, **overrides) -> CensusSettings:
    values = {"backoff_seconds": 0.01, "timeout_seconds": 10.0, **overrides}
    return CensusSettings(census.url, "Public_AR_Current", "Current_Current", **values)


def geocode(census, addresses, **overrides):
    """GEOIDs aligned with `addresses`, and the provider's event counts."""
    with CensusGeocoder(settings_for(census, **overrides)) as geocoder:
        reply = geocoder.geocode(addresses)
    return [outcome.geoid for outcome in reply.outcomes], reply.events


def statuses(census, addresses, **overrides):
    with CensusGeocoder(settings_for(census, **overrides)) as geocoder:
        return [outcome.status.value for outcome in geocoder.geocode(addresses).outcomes]


def gazetteer_addresses(count):
    """Addresses that match, each with the GEOID the gazetteer gives it."""
    addresses, geoids = [], []
    for index in range(count):
        street = STREETS[index % len(STREETS)]
        number = street.low + index
        addresses.append(Address(f"{number} {street.name}", street.city, "NY", street.zip_code))
        tract, _block = street.tract_and_block(number)
        geoids.append(NY_STATE_FIPS + street.county_fips + tract)
    return addresses, geoids


def test_matches_ties_and_misses(census):
    addresses = [
        Address("500 W 42nd Street", "New York", "NY", "10036"),
        Address("2600 Broadway", "", "", ""),  # Broadway is in three boroughs
        Address("2600 Broadway", "", "", "10025"),
        Address("35-10 Main St", "Flushing", "NY", ""),  # only one Main St: Non_Exact
        Address("800 Southern Boulevard", "bronx", "ny", ""),
        Address("1 Nowhere Rd", "Bronx", "NY", "10451"),
    ]
    with CensusGeocoder(settings_for(census, api_key="census-key")) as geocoder:
        reply = geocoder.geocode(addresses)
    assert [outcome.geoid for outcome in reply.outcomes] == [
        "36061011400",
        None,
        "36061019100",
        "36081085300",
        "36005012900",
        None,
    ]
    assert [outcome.status.value for outcome in reply.outcomes] == [
        "Match", "Tie", "Match", "Match", "Match", "No_Match",
    ]  # fmt: skip
    assert not reply.outcomes[3].match.exact  # found by its name alone
    assert census.received[0].row_count == 6
    assert census.received[0].has_key


def test_rows_are_split_into_batches_numbered_from_zero(census):
    addresses, expected = gazetteer_addresses(25)
    geoids, _ = geocode(census, addresses, batch_size=10)
    assert geoids == expected
    assert [request.row_count for request in census.received] == [10, 10, 5]
    for request in census.received:
        assert request.row_ids == tuple(str(n) for n in range(request.row_count))
        assert not request.has_key


def test_a_jammed_address_is_reformatted_and_resent(census):
    addresses = [
        Address("3600 Main St Apt 4, Queens NY 11354", "", "", ""),
        Address("500 W 42nd St", "New York", "NY", "10036"),
    ]
    geoids, events = geocode(census, addresses)
    assert geoids == ["36081085300", "36061011400"]
    assert (events["reformatted_resent"], events["matched_after_reformat"]) == (1, 1)
    assert [request.row_count for request in census.received] == [2, 1]


def test_503s_are_retried(census):
    census.faults.fail_next = 2
    addresses, expected = gazetteer_addresses(5)
    geoids, events = geocode(census, addresses)
    assert geoids == expected
    assert (events["requests"], events["failed_requests"]) == (3, 2)


def test_random_failures_are_ridden_out(census):
    census.faults.fail_fraction = 0.3
    addresses, expected = gazetteer_addresses(100)
    geoids, events = geocode(census, addresses, batch_size=10, max_attempts=8)
    assert geoids == expected
    assert events["failed_requests"] > 0


def test_html_page_with_status_200_is_a_failed_request(census):
    census.faults.html_next = 1
    addresses, expected = gazetteer_addresses(5)
    geoids, events = geocode(census, addresses)
    assert geoids == expected
    assert (events["requests"], events["failed_requests"]) == (2, 1)


def test_garbled_reply_is_retried_and_junk_lines_are_ignored(census):
    census.faults.garble_next = 1
    census.faults.junk_lines = 3
    addresses, expected = gazetteer_addresses(6)
    geoids, events = geocode(census, addresses)
    assert geoids == expected
    assert events["failed_requests"] == 1
    assert events["ignored_reply_rows"] == 3


def test_rows_missing_from_a_reply_are_asked_again_with_the_same_text(census):
    census.faults.omit_next_rows = 8
    addresses, expected = gazetteer_addresses(40)
    geoids, events = geocode(census, addresses)
    assert geoids == expected
    assert events["reasked"] == 8
    assert events["unanswered"] == 0
    assert [request.row_count for request in census.received] == [40, 8]


def test_a_row_never_answered_counts_as_unmatched_after_bounded_re_asks(census):
    census.faults.drop_rows = 1  # the last row sent is left out of every reply
    addresses, expected = gazetteer_addresses(6)
    geoids, events = geocode(census, addresses, max_reasks=2, max_attempts=1)
    assert geoids == [*expected[:5], None]
    assert (events["reasked"], events["unanswered"]) == (1, 1)
    # The first request, then the missing row twice more (a reply without rows is a
    # failed request); a plain gazetteer line reformats to itself, so nothing more.
    assert [request.row_count for request in census.received] == [6, 1, 1]


def test_a_batch_that_fails_while_others_are_answered_is_asked_again(census):
    addresses, expected = gazetteer_addresses(30)
    with CensusGeocoder(settings_for(census, batch_size=10, max_attempts=1)) as geocoder:
        geocoder.geocode(addresses[:1])  # the service has answered recently
        census.faults.fail_next = 1  # one batch of 10 fails, below the split size
        reply = geocoder.geocode(addresses)
    assert [outcome.geoid for outcome in reply.outcomes] == expected
    assert reply.events["failed_rows"] == 10
    assert reply.events["reasked"] == 10


def test_a_slow_batch_that_times_out_is_split(census):
    census.faults.delay_per_row_seconds = 0.008  # 120 rows take ~1s, 60 rows ~0.5s
    addresses, expected = gazetteer_addresses(120)
    geoids, events = geocode(census, addresses, batch_size=120, max_attempts=1, timeout_seconds=0.7)
    assert geoids == expected
    assert events["split_batches"] == 1
    assert [request.row_count for request in census.received][-2:] == [60, 60]


def test_a_geocoder_that_stays_down_raises_without_address_text(census, caplog):
    census.faults.fail_next = 1_000
    addresses, _ = gazetteer_addresses(120)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(GeocoderUnavailableError) as raised:
        geocode(census, addresses, batch_size=120, max_attempts=2)
    # 120 rows, then halves of 60, then of 30: each tried twice before giving up.
    assert [request.row_count for request in census.received] == [120, 120, 60, 60, 30, 30]
    assert raised.value.__cause__ is not None
    told = [str(raised.value), str(raised.value.__cause__)]
    told += [record.getMessage() for record in caplog.records]
    for address in addresses:
        assert not any(address.addr1 in text for text in told)


def test_a_client_error_is_fatal_at_once(census):
    census.faults.fail_next = 1
    census.faults.fail_status = 400
    with pytest.raises(GeocoderUnavailableError, match="HTTP 400"):
        geocode(census, gazetteer_addresses(3)[0])
    assert len(census.received) == 1


def test_batches_run_concurrently(census):
    census.faults.delay_seconds = 0.1
    addresses, expected = gazetteer_addresses(40)
    started = time.monotonic()
    geoids, events = geocode(census, addresses, batch_size=5, concurrency=4)
    assert geoids == expected
    assert events["requests"] == 8
    assert census.max_in_flight > 1
    assert time.monotonic() - started < 8 * 0.1


def test_server_checks_the_request(census):
    csv_file = {"addressFile": ("a.csv", b"0,500 W 42nd St,New York,NY,10036\n", "text/csv")}
    form = {"benchmark": "Public_AR_Current", "vintage": "Current_Current"}
    too_many = b"".join(b"%d,1 Main St,Queens,NY,11354\n" % n for n in range(10_001))
    with httpx.Client() as client:
        assert client.post(census.url, data=form, files=csv_file).status_code == 200
        assert client.post(census.url + "x", data=form, files=csv_file).status_code == 404
        assert client.get(census.url).status_code == 405
        assert client.post(census.url, data={"vintage": "v"}, files=csv_file).status_code == 400
        assert client.post(census.url, data=form).status_code == 400
        big_file = {"addressFile": ("a.csv", too_many, "text/csv")}
        assert client.post(census.url, data=form, files=big_file).status_code == 400
