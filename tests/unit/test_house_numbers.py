import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron_info_poller.geocoding.house_numbers import (
    format_house_number,
    is_queens_style,
    parse_house_number,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("123", 123),
        ("0", 0),
        (" 123 ", 123),
        ("37-12", 3712),  # Queens: block 37, lot 12
        ("3712", 3712),  # the same number as TIGER may store it
        ("37 - 12", 3712),
        ("37\u201312", 3712),  # an en dash, pasted
        ("37-2", 3702),  # the lot always has two digits
        ("12A", 12),
        ("12a", 12),
        ("12-A", 12),
        ("12 A", 12),
        ("12 1/2", 12),
        ("12-1/2", 12),
        ("12\u00bd", 12),
        ("37-12A", 3712),
        ("\uff11\uff12\uff13", 123),  # full-width digits
        ("123.", 123),
    ],
)
def test_parse(text, value):
    assert parse_house_number(text) == value


@pytest.mark.parametrize(
    "text", ["", " ", "ABC", "A1", "1/2", "-", "37-123", "1234567", "12B-", "12 AB", "#12"]
)
def test_unparseable_is_none(text):
    assert parse_house_number(text) is None


@pytest.mark.parametrize(
    ("text", "queens"), [("37-12", True), ("37-02", True), ("3712", False), ("12-A", False)]
)
def test_is_queens_style(text, queens):
    assert is_queens_style(text) is queens


def test_format_spells_queens_numbers_with_their_hyphen():
    assert format_house_number(3712, queens_style=True) == "37-12"
    assert format_house_number(3702, queens_style=True) == "37-02"
    assert format_house_number(3712, queens_style=False) == "3712"
    assert format_house_number(12, queens_style=True) == "12"


@given(st.integers(1, 999), st.integers(0, 99))
def test_a_queens_number_and_its_unhyphenated_form_compare_equal(block, lot):
    hyphenated = f"{block}-{lot:02d}"
    assert parse_house_number(hyphenated) == parse_house_number(f"{block}{lot:02d}")
    assert parse_house_number(hyphenated) == block * 100 + lot
    assert format_house_number(block * 100 + lot, queens_style=True) == hyphenated


@given(st.integers(0, 999_999), st.sampled_from(["", "A", "-B", " C", " 1/2"]))
def test_a_suffix_does_not_change_the_number(number, suffix):
    assert parse_house_number(f"{number}{suffix}") == number
