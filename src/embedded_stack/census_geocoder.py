"""A local stand-in for the Census batch geocoder, matching against the gazetteer.

It speaks the real protocol (multipart upload, quoted CSV rows in any order) and can be
made slow or flaky at runtime through `app.faults`, so tests can exercise the client's
retries, splitting and parsing. Run it with `LocalHttpService(CensusGeocoderApp()).start()`.
"""

from __future__ import annotations

import csv
import io
import random
import re
import threading
import time
from dataclasses import dataclass

from werkzeug.wrappers import Request, Response

from embedded_stack.gazetteer import NY_STATE_FIPS, STREETS, GazetteerStreet

ADDRESSBATCH_PATH = "/geocoder/geographies/addressbatch"
MAX_ROWS = 10_000

_WORDS = {
    "STREET": "ST",
    "AVENUE": "AVE",
    "AV": "AVE",
    "BOULEVARD": "BLVD",
    "ROAD": "RD",
    "PARKWAY": "PKWY",
    "PKY": "PKWY",
    "SAINT": "ST",
    "FORT": "FT",
    "WEST": "W",
    "EAST": "E",
    "NORTH": "N",
    "SOUTH": "S",
}
# Queens numbers look like "35-10" (3510); like the real service, a letter or a half
# after the number is dropped: "12A", "12-A" and "12 1/2" are 12.
_HOUSE_NUMBER = re.compile(r"(\d+)(?:-(\d+))?(?:-?[A-Z])?(?: 1/2)?(?= |$)")
_HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>Service Unavailable</title></head>"
    "<body><h1>The geocoder is temporarily unavailable</h1></body></html>"
)


@dataclass
class Faults:
    """Knobs tests turn while the server runs; counters of "next N" count down."""

    delay_seconds: float = 0.0  # per request
    delay_per_row_seconds: float = 0.0
    fail_next: int = 0  # answer the next N requests with fail_status
    fail_status: int = 503
    fail_fraction: float = 0.0  # of requests answered with fail_status, at random
    html_next: int = 0  # answer the next N requests with an HTML page and status 200
    garble_next: int = 0  # answer the next N requests with CSV in which no row makes sense
    drop_rows: int = 0  # the last N rows sent are left out of every reply
    # The next N result rows, picked at random from each reply until N are used up, are
    # left out: the real service drops rows under load, and a row asked again is answered.
    omit_next_rows: int = 0
    rows_omitted: int = 0  # how many rows omit_next_rows has left out so far
    # While set to an unset Event, every request waits for it: a test holds runs mid-way.
    hold: threading.Event | None = None
    junk_lines: int = 0  # nonsense lines mixed into every reply


@dataclass(frozen=True)
class ReceivedRequest:
    row_ids: tuple[str, ...]
    has_key: bool
    status: int

    @property
    def row_count(self) -> int:
        return len(self.row_ids)


class CensusGeocoderApp:
    """The WSGI app. `faults` may be changed at any time; `received` logs each request."""

    def __init__(self, seed: int = 0):
        self._lock = threading.Lock()
        self._in_flight = 0
        self.reset(seed)

    def reset(self, seed: int = 0) -> None:
        """Back to a healthy server with an empty request log."""
        with self._lock:
            self.faults = Faults()
            self.received: list[ReceivedRequest] = []
            self.max_in_flight = 0  # the most requests handled at the same time
            self._random = random.Random(seed)

    @Request.application
    def __call__(self, request: Request) -> Response:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return self._handle(request)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _handle(self, request: Request) -> Response:
        if request.path != ADDRESSBATCH_PATH:
            return Response("not found", status=404)
        if request.method != "POST":
            return Response("method not allowed", status=405)
        upload = request.files.get("addressFile")
        rows = _read_rows(upload.read()) if upload else []
        response = self._answer(request, upload is not None, rows)
        time.sleep(self.faults.delay_seconds + self.faults.delay_per_row_seconds * len(rows))
        hold = self.faults.hold
        if hold is not None:
            hold.wait(timeout=120)
        with self._lock:
            self.received.append(
                ReceivedRequest(
                    tuple(row[0] for row in rows), "key" in request.form, response.status_code
                )
            )
        return response

    def _answer(self, request: Request, has_file: bool, rows: list[list[str]]) -> Response:
        faults = self.faults
        with self._lock:
            if faults.fail_next > 0 or self._random.random() < faults.fail_fraction:
                faults.fail_next = max(0, faults.fail_next - 1)
                return Response("geocoder failure", status=faults.fail_status)
            if faults.html_next > 0:
                faults.html_next -= 1
                return Response(_HTML_ERROR_PAGE, status=200, mimetype="text/html")
            garble = faults.garble_next > 0
            faults.garble_next = max(0, faults.garble_next - 1)
        if not request.form.get("benchmark") or not request.form.get("vintage"):
            return Response("benchmark and vintage are required", status=400)
        if not has_file:
            return Response("addressFile is required", status=400)
        if len(rows) > MAX_ROWS:
            return Response(f"at most {MAX_ROWS} rows per batch", status=400)

        results = [_geocode_row(row) for row in rows][: max(0, len(rows) - faults.drop_rows)]
        with self._lock:
            omitted = min(faults.omit_next_rows, len(results))
            if omitted:
                faults.omit_next_rows -= omitted
                faults.rows_omitted += omitted
                for position in sorted(self._random.sample(range(len(results)), omitted))[::-1]:
                    del results[position]
        results += [["<junk>", "not a row"] for _ in range(faults.junk_lines)]
        with self._lock:
            self._random.shuffle(results)
        if garble:
            results = [[*row[:2], "Garbled"] for row in results]
        buffer = io.StringIO()
        csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(results)
        return Response(buffer.getvalue(), mimetype="text/csv")


def _read_rows(data: bytes) -> list[list[str]]:
    text = data.decode("utf-8", errors="replace")
    return [[*row, "", "", "", ""][:5] for row in csv.reader(io.StringIO(text, newline="")) if row]


def _geocode_row(row: list[str]) -> list[str]:
    row_id, street, city, state, zip_code = (value.strip() for value in row)
    echo = f"{street}, {city}, {state}, {zip_code}"
    house_number, name = _split_street(street)
    if house_number is None:
        return [row_id, echo, "No_Match"]
    named = _STREETS_BY_NAME.get(name, ())
    in_range = [(s, n) for s, n in named if house_number in s]
    located = [
        (s, n)
        for s, n in in_range
        if s.zip_code == zip_code[:5] or city.upper() in (s.city.upper(), s.borough.upper())
    ]
    if located:
        return _match_row(row_id, echo, "Exact", *located[0], house_number)
    if not in_range:
        return [row_id, echo, "No_Match"]
    # Like the real service: a street name found in several places, with no city or ZIP
    # that tells them apart, is a Tie (the gazetteer's Broadway is in three boroughs).
    if len({s.borough for s, _ in named}) > 1:
        return [row_id, echo, "Tie"]
    return _match_row(row_id, echo, "Non_Exact", *in_range[0], house_number)


def _split_street(street: str) -> tuple[int | None, str]:
    """House number and the street name, both normalised the way the gazetteer's names
    are: "35-10 Main Street" -> (3510, "MAIN ST"), "12A West 42 St." -> (12, "W 42ND ST")."""
    text = " ".join(re.sub(r"[.,#]", " ", street.upper()).split())
    number = _HOUSE_NUMBER.match(text)
    if number is None:
        return None, _normalise_name(text)
    return int(number[1] + (number[2] or "")), _normalise_name(text[number.end() :])


def _normalise_name(name: str) -> str:
    return " ".join(
        _ordinal(word) if word.isdigit() else _WORDS.get(word, word) for word in name.split()
    )


def _ordinal(number: str) -> str:
    value = int(number)
    suffix = "TH" if 11 <= value % 100 <= 13 else {1: "ST", 2: "ND", 3: "RD"}.get(value % 10, "TH")
    return f"{value}{suffix}"


def _streets_by_name() -> dict[str, tuple[tuple[GazetteerStreet, str], ...]]:
    """Normalised name -> (street, the name as the Census spells it), for every name of
    every street: an alternate name finds the same street, and so the same tract."""
    index: dict[str, list[tuple[GazetteerStreet, str]]] = {}
    for street in STREETS:
        for name in street.names:
            index.setdefault(_normalise_name(name), []).append((street, name))
    return {name: tuple(entries) for name, entries in index.items()}


_STREETS_BY_NAME = _streets_by_name()


def _match_row(
    row_id: str,
    echo: str,
    exactness: str,
    street: GazetteerStreet,
    name: str,
    house_number: int,
) -> list[str]:
    # The tract, TIGER line, side and point all come from the gazetteer, which the TIGER
    # county files are written from too.
    tract, block = street.tract_and_block(house_number)
    edge = street.edge(house_number)
    longitude, latitude = edge.point(house_number)
    return [
        row_id,
        echo,
        "Match",
        exactness,
        f"{house_number} {name}, {street.city.upper()}, NY, {street.zip_code}",
        f"{longitude:.6f},{latitude:.6f}",
        str(edge.tlid),
        edge.side(house_number),
        NY_STATE_FIPS,
        street.county_fips,
        tract,
        block,
    ]
