"""The offline geocoder on the stack's TIGER-shaped county files: it agrees with the local
Census geocoder, keeps every address in the process, and chains with the Census service."""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from embedded_stack.stack import S3_BUCKET
from embedded_stack.synthetic_addresses import AddressMaker
from embedded_stack.synthetic_sierra import SyntheticSierra
from patron_info_poller.errors import ConfigurationError
from patron_info_poller.geocoding.address import Address
from patron_info_poller.geocoding.census import CensusGeocoder, CensusSettings
from patron_info_poller.geocoding.tiger import TigerGeocoder
from tests.e2e.cli_process import run_cli
from tests.e2e.test_cli import assert_no_leaks


@pytest.fixture(scope="session")
def tiger_index(stack, tmp_path_factory) -> Path:
    """The index built once from the stack's download server, as an operator would."""
    path = tmp_path_factory.mktemp("tiger") / "tiger-2024-nyc.sqlite"
    stack.build_tiger_index(path)
    return path


def messy_addresses(count: int, seed: int) -> list[Address]:
    """Patron addresses as the synthetic Sierra writes them: every trap, every mess."""
    maker = AddressMaker(random.Random(seed))
    addresses = []
    while len(addresses) < count:
        parts = maker.make()
        address = Address.from_row(parts.addr1, parts.city, parts.region, parts.postal_code)
        if not address.cleaned().is_empty:
            addresses.append(address)
    return addresses


def test_offline_geocoder_agrees_with_the_local_census_geocoder(stack, tiger_index):
    addresses = messy_addresses(4_000, seed=2026)
    settings = CensusSettings(stack.geocoder_url, "Public_AR_Current", "Current_Current")
    with CensusGeocoder(settings) as census, TigerGeocoder.from_path(tiger_index) as tiger:
        by_census = census.geocode(addresses).outcomes
        by_tiger = tiger.geocode(addresses).outcomes

    census_matched = [i for i, o in enumerate(by_census) if o.is_match]
    agreed = [i for i in census_matched if by_tiger[i].geoid == by_census[i].geoid]
    wrong = [
        i
        for i in census_matched
        if by_tiger[i].is_match and by_tiger[i].geoid != by_census[i].geoid
    ]
    offline_rate = sum(o.is_match for o in by_tiger) / len(addresses)
    print(
        f"\noffline vs local Census geocoder on {len(addresses)} messy addresses: census "
        f"matched {len(census_matched)}, offline agreed on {len(agreed)} "
        f"({len(agreed) / len(census_matched):.2%}), wrong tracts {len(wrong)}; offline match "
        f"rate {offline_rate:.1%}, census {len(census_matched) / len(addresses):.1%}"
    )
    assert wrong == []
    assert len(agreed) >= 0.99 * len(census_matched)


def test_geocoder_tiger_sends_no_address_to_any_geocoder(poller, sierra, stack, tiger_index):
    now = datetime.now(UTC).replace(microsecond=0)
    SyntheticSierra(seed=31).create_patrons(
        sierra, 300, start=now - timedelta(days=5), end=now - timedelta(days=1)
    )
    run = poller.run(GEOCODER="tiger", TIGER_INDEX=str(tiger_index))

    assert stack.geocoder_app.received == []  # no request reached the Census geocoder
    new = run.by_stream("new")
    assert len(run.records) == 300
    assert new.geocoding["tiger"].requested == new.geocode_requested > 250
    assert new.geocoding["tiger"].matched == new.geocode_matched > 0.8 * new.geocode_requested
    assert list(new.geocoding) == ["tiger"]


def test_tiger_then_census_sends_only_what_the_index_left(poller, sierra, stack, tiger_index):
    now = datetime.now(UTC).replace(microsecond=0)
    SyntheticSierra(seed=32).create_patrons(
        sierra, 300, start=now - timedelta(days=5), end=now - timedelta(days=1)
    )
    run = poller.run(GEOCODER="tiger,census", TIGER_INDEX=str(tiger_index))

    new = run.by_stream("new")
    tiger, census = new.geocoding["tiger"], new.geocoding["census"]
    left_by_tiger = tiger.requested - tiger.matched
    assert census.requested == left_by_tiger > 0
    # Only what the index left went out: once each, plus the reformatted second tries.
    rows_sent = sum(request.row_count for request in stack.geocoder_app.received)
    assert rows_sent == census.requested + census.events["reformatted_resent"]
    assert new.geocode_matched == tiger.matched + census.matched


def test_an_index_in_s3_is_downloaded_for_the_run_and_a_missing_one_is_named(
    poller, sierra, stack, tiger_index
):
    SyntheticSierra(seed=33).create_patrons(
        sierra, 20, start=datetime(2024, 6, 1, tzinfo=UTC), end=datetime(2024, 6, 2, tzinfo=UTC)
    )
    stack._clients["s3"].upload_file(str(tiger_index), S3_BUCKET, "indexes/tiger.sqlite")
    run = poller.run(GEOCODER="tiger", TIGER_INDEX=f"s3://{S3_BUCKET}/indexes/tiger.sqlite")
    assert run.by_stream("new").geocode_matched > 0
    with pytest.raises(ConfigurationError, match=r"indexes/missing\.sqlite") as raised:
        poller.run(GEOCODER="tiger", TIGER_INDEX=f"s3://{S3_BUCKET}/indexes/missing.sqlite")
    assert raised.value.exit_code == 2
    with pytest.raises(ConfigurationError, match=r"/nowhere/tiger\.sqlite"):
        poller.run(GEOCODER="tiger", TIGER_INDEX="/nowhere/tiger.sqlite")


def test_the_index_and_geocode_commands_work_offline_and_leak_nothing(poller, stack, tmp_path):
    environment = {"LOG_LEVEL": "debug"}
    index = tmp_path / "nyc.sqlite"
    built = run_cli(
        [
            "tiger-index",
            "build",
            "--year",
            str(stack.tiger_year),
            "--counties",
            ",".join(stack.tiger_counties),
            "--output",
            str(index),
            "--source",
            stack.tiger_source_url,
        ],
        environment,
        tmp_path,
    )
    assert built.returncode == 0, built.stderr[-1500:]
    assert "for 5 counties" in built.stdout

    addresses = messy_addresses(200, seed=5)
    source = tmp_path / "addresses.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        for number, a in enumerate(addresses):
            writer.writerow([f"row{number}", a.addr1, a.city, a.region, a.postal_code])
    output = tmp_path / "reply.csv"
    geocoded = run_cli(
        ["geocode", "--index", str(index), str(source), "--output", str(output)],
        environment,
        tmp_path,
    )
    assert geocoded.returncode == 0, geocoded.stderr[-1500:]
    with output.open(newline="") as reply:
        rows = list(csv.reader(reply))
    assert [row[0] for row in rows] == [f"row{n}" for n in range(200)]
    assert {len(row) for row in rows if row[2] == "Match"} == {12}
    assert {len(row) for row in rows if row[2] != "Match"} <= {3}
    assert stack.geocoder_app.received == []
    # Logs and messages hold counts only; the reply file (and its input) hold addresses by
    # design, so they are not scanned.
    private = {a.addr1 for a in addresses if len(a.addr1) >= 8}
    assert_no_leaks(built.stdout + built.stderr + geocoded.stdout + geocoded.stderr, private)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "addresses.csv",
        "nyc.sqlite",
        "reply.csv",
    ]


@pytest.mark.parametrize("fault", ["missing", "truncated"])
def test_a_bad_county_file_fails_the_build_in_one_line_naming_it(stack, tmp_path, fault):
    name = f"tl_{stack.tiger_year}_36085_faces.zip"
    if fault == "missing":
        stack.tiger_app.faults.missing.add(name)
    else:
        stack.tiger_app.faults.truncate_next = 10  # every file this build asks for
    try:
        result = run_cli(
            [
                "tiger-index",
                "build",
                "--year",
                str(stack.tiger_year),
                "--counties",
                "36085",
                "--output",
                str(tmp_path / "index.sqlite"),
                "--source",
                stack.tiger_source_url,
            ],
            {},
            tmp_path,
        )
    finally:
        stack.tiger_app.reset()
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("patron-info-poller: ") and "36085" in last
    assert not (tmp_path / "index.sqlite").exists()
    assert not list(tmp_path.iterdir())  # no half index, no temporary file
