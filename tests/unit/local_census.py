"""Asks the local Census batch geocoder (the WSGI app, no server) about addresses."""

from __future__ import annotations

import csv
import io
from typing import NamedTuple

from werkzeug.test import Client

from embedded_stack.census_geocoder import ADDRESSBATCH_PATH, CensusGeocoderApp


class Answer(NamedTuple):
    status: str  # Match, No_Match or Tie
    exactness: str = ""
    matched_address: str = ""
    tiger_line_id: str = ""
    side: str = ""
    geoid: str = ""  # state + county + tract
    block: str = ""


def geocode(*addresses: tuple[str, str, str, str]) -> list[Answer]:
    """An answer per (street, city, state, ZIP), in the order asked."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows((n, *address) for n, address in enumerate(addresses))
    response = Client(CensusGeocoderApp()).post(
        ADDRESSBATCH_PATH,
        data={
            "benchmark": "Public_AR_Current",
            "vintage": "Current_Current",
            "addressFile": (io.BytesIO(buffer.getvalue().encode()), "addresses.csv"),
        },
    )
    assert response.status_code == 200
    answers: dict[int, Answer] = {}
    for row in csv.reader(io.StringIO(response.get_data(as_text=True))):
        if row[2] == "Match":
            _id, _echo, status, exactness, matched, _point, line, side, *geo = row
            state, county, tract, block = geo
            answers[int(row[0])] = Answer(
                status, exactness, matched, line, side, state + county + tract, block
            )
        else:
            answers[int(row[0])] = Answer(row[2])
    assert sorted(answers) == list(range(len(addresses)))
    return [answers[n] for n in range(len(addresses))]


def geocode_one(street: str, city: str = "", state: str = "", zip_code: str = "") -> Answer:
    return geocode((street, city, state, zip_code))[0]
