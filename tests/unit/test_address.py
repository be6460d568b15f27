import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron_info_poller.geocoding.address import Address, csv_safe, reformat


def test_from_row_trims_and_maps_null_to_empty():
    address = Address.from_row("  500 W 42nd St ", None, " NY", "10036\n")
    assert address == Address("500 W 42nd St", "", "NY", "10036")


@pytest.mark.parametrize(
    ("parts", "empty"),
    [
        ((None, None, None, None), True),
        (("  ", "", "\t", None), True),
        ((None, None, None, "10036"), False),
        (("1 Main St", None, None, None), False),
    ],
)
def test_is_empty(parts, empty):
    assert Address.from_row(*parts).is_empty is empty


def test_repr_and_str_hide_the_parts():
    address = Address("500 W 42nd St", "New York", "NY", "10036")
    for text in (repr(address), str(address), f"{address}", repr([address])):
        assert "42nd" not in text
        assert "New York" not in text
        assert "10036" not in text
    assert repr(address) == "Address(<redacted>)"


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("500 W 42nd St", "500 W 42nd St"),
        ("  500\tW\r\n42nd\x00St\x1b ", "500 W 42nd St"),
        ("Apt 4\u2028Floor 2", "Apt 4 Floor 2"),
        ('=HYPERLINK("http://x")', 'HYPERLINK("http://x")'),
        ("+1 Main St", "1 Main St"),
        ("@SUM(A1)", "SUM(A1)"),
        ("-cmd|' /C calc'!A0", "cmd|' /C calc'!A0"),
        ("= =+@-x", "x"),
        ("-12 Main St", "-12 Main St"),
        ("12-14 Main St", "12-14 Main St"),
        ('"Quoted", with commas', '"Quoted", with commas'),
        ("Avenida Peñalosa", "Avenida Peñalosa"),
        ("\n\t ", ""),
    ],
)
def test_csv_safe(raw, cleaned):
    assert csv_safe(raw) == cleaned


@given(st.text())
def test_csv_safe_is_one_line_a_spreadsheet_reads_as_text(text):
    cleaned = csv_safe(text)
    assert cleaned == cleaned.strip()
    assert not any(ch in cleaned for ch in "\r\n\t\x00\x0b\x0c")
    assert not cleaned.startswith(("=", "+", "@"))
    assert not (cleaned.startswith("-") and not cleaned[1:2].isdigit())
    row = next(csv.reader(io.StringIO(_csv_line(cleaned), newline="")))
    assert row == ["0", cleaned]
    assert csv_safe(cleaned) == cleaned


def _csv_line(value: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["0", value])
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (
            Address("123 Main St Apt 4, Queens NY 11354", "", "", ""),
            Address("123 Main St", "Queens", "NY", "11354"),
        ),
        (
            Address("3600 Main Street Apt 4B", "Queens", "NY", "11354-1234"),
            Address("3600 Main Street", "Queens", "NY", "11354"),
        ),
        (
            Address("500 W 42nd St #5", "New York", "NY", "10036"),
            Address("500 W 42nd St", "New York", "NY", "10036"),
        ),
        (
            Address("2600 Broadway Fl 3 New York NY 10025", "", "", ""),
            Address("2600 Broadway", "New York", "NY", "10025"),
        ),
        (
            # The city, state and ZIP both in the first line and in their own columns.
            Address("3600 Main St Queens NY 11354", "Queens", "NY", "11354"),
            Address("3600 Main St", "Queens", "NY", "11354"),
        ),
        (
            Address("12 Avenida Peñalosa", "San Juan", "PR", "00901"),
            Address("12 Avenida Penalosa", "San Juan", "PR", "00901"),
        ),
        (
            Address("909 Nostrand Avenue$#19F", "Brooklyn", "NY", "11225 4596"),
            Address("909 Nostrand Avenue", "Brooklyn", "NY", "11225"),
        ),
        (
            Address('"713 Amsterdam Ave"', "Manhattan", "NY", "10024"),
            Address("713 Amsterdam Ave", "Manhattan", "NY", "10024"),
        ),
        (
            Address("=1 Grand Concourse\nApt 2", "Bronx", "NY", "10451"),
            Address("1 Grand Concourse", "Bronx", "NY", "10451"),
        ),
    ],
)
def test_reformat_splits_the_address_again(address, expected):
    assert reformat(address) == expected


@pytest.mark.parametrize(
    "address",
    [
        Address("500 W 42nd St", "New York", "NY", "10036"),  # nothing to gain
        Address(" 500  W 42nd St ", "New York", "NY", "10036"),  # only whitespace differs
        Address("", "", "", ""),
        Address("PO Box 12", "", "", ""),  # no street line to send
        Address("", "Queens", "NY", "11354"),
    ],
)
def test_reformat_returns_none_when_resending_gains_nothing(address):
    assert reformat(address) is None
