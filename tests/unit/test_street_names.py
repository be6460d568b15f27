import pytest
from hypothesis import given
from hypothesis import strategies as st

from patron_info_poller.geocoding.street_names import street_key


@pytest.mark.parametrize(
    "spellings",
    [
        ("W 42nd St", "West 42nd Street", "W 42 St", "W. 42nd St.", "west 42ND street"),
        ("W 42nd St", "\uff37 \uff14\uff12\uff4e\uff44 \uff33\uff54", " W\u00a042nd  St "),
        ("St Nicholas Ave", "Saint Nicholas Avenue", "St. Nicholas Av", "ST NICHOLAS AVE"),
        ("St Marks Pl", "Saint Mark's Place", "St. Marks Place"),
        ("Fort Washington Ave", "Ft. Washington Avenue", "FT WASHINGTON AV"),
        ("Mount Eden Ave", "Mt Eden Avenue", "Mt. Eden Av"),
        ("5th Ave", "Fifth Avenue", "5 Ave", "5TH AV"),
        ("1st Ave", "First Avenue", "1 Av"),
        ("Ocean Pkwy", "Ocean Parkway", "Ocean Pky"),
        ("Main St E", "Main Street East", "Main St. E."),
        ("N Conduit Ave", "North Conduit Avenue"),
        ("Grand Concourse", "Grand Conc", "GRAND CONCOURSE"),
        ("Broadway", "B'way", "Bway", "BROADWAY"),
        ("O'Neill St", "ONeill Street", "O\u2019Neill St"),
        ("Avenida Peñalosa", "Avenida Penalosa"),
    ],
)
def test_spellings_of_one_street_share_a_key(spellings):
    assert len({street_key(spelling) for spelling in spellings}) == 1


@pytest.mark.parametrize(
    ("long", "short"),
    [
        ("Avenue", "Ave"),
        ("Avenue", "Av"),
        ("Boulevard", "Blvd"),
        ("Road", "Rd"),
        ("Parkway", "Pkwy"),
        ("Parkway", "Pky"),
        ("Place", "Pl"),
        ("Drive", "Dr"),
        ("Lane", "Ln"),
        ("Terrace", "Ter"),
        ("Court", "Ct"),
        ("Street", "St"),
        ("Expressway", "Expy"),
        ("Turnpike", "Tpke"),
        ("Plaza", "Plz"),
    ],
)
def test_suffixes(long, short):
    assert street_key(f"Hillside {long}") == street_key(f"Hillside {short}")
    assert street_key(f"Hillside {long}") != street_key("Hillside")


@pytest.mark.parametrize(
    ("long", "short"),
    [("West", "W"), ("East", "E"), ("North", "N"), ("South", "S"), ("Southwest", "SW")],
)
def test_directionals(long, short):
    assert street_key(f"{long} 4th St") == street_key(f"{short} 4th St")


def test_saint_is_only_the_prefix_word():
    # St before a name is Saint; St after it (or before a directional) is Street.
    assert street_key("St Nicholas Ave") == "SAINT NICHOLAS AVE"
    assert street_key("W 42nd St") == "W 42 ST"
    assert street_key("Main St E") == "MAIN ST E"
    assert street_key("St Nicholas St") == "SAINT NICHOLAS ST"
    assert street_key("St Nicholas Ave") != street_key("Nicholas Ave")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("W 42nd St", "E 42nd St"),
        ("W 42nd St", "W 42nd Ave"),
        ("W 4th St", "W 40th St"),
        ("W 4th St", "W 4th Pl"),
        ("St Nicholas Ave", "St Nicholas Ter"),
        ("Beach 116th St", "116th St"),
        ("Fort Hamilton Pkwy", "Hamilton Pkwy"),
    ],
)
def test_different_streets_keep_different_keys(one, other):
    assert street_key(one) != street_key(other)


def test_keys_are_upper_case_ascii_words():
    assert street_key("  Rue de l'Église, #3 ") == "RUE DE LEGLISE 3"
    assert street_key("") == ""
    assert street_key("...") == ""


@given(st.text())
def test_the_key_of_a_key_is_itself(name):
    key = street_key(name)
    assert street_key(key) == key
    assert key == " ".join(key.split())
    assert key.isascii() and key == key.upper()


# Spelling variants of one street, drawn from its parts: every variant gives one key.
_DIRECTIONS = {"W": ("W", "W.", "West", "west"), "E": ("E", "E.", "East", "EAST"), "": ("",)}
_TYPES = {
    "St": ("St", "St.", "Street", "STREET"),
    "Ave": ("Ave", "Av", "Avenue", "ave."),
    "Pkwy": ("Pkwy", "Pky", "Parkway"),
    "Blvd": ("Blvd", "Boulevard", "Blvd."),
    "Pl": ("Pl", "Place", "PL."),
}


def _ordinal(number: int) -> str:
    suffix = "th" if 11 <= number % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10)
    return f"{number}{suffix or 'th'}"


@st.composite
def _street_and_variant(draw):
    direction = draw(st.sampled_from(sorted(_DIRECTIONS)))
    number = draw(st.integers(1, 250))
    kind = draw(st.sampled_from(sorted(_TYPES)))
    canonical = " ".join(filter(None, (direction, _ordinal(number), kind)))
    spelled_number = draw(
        st.sampled_from((_ordinal(number), str(number), _ordinal(number).upper()))
    )
    variant = " ".join(
        filter(
            None,
            (
                draw(st.sampled_from(_DIRECTIONS[direction])),
                spelled_number,
                draw(st.sampled_from(_TYPES[kind])),
            ),
        )
    )
    spaces = draw(st.sampled_from((" ", "  ", "\t")))
    return canonical, variant.replace(" ", spaces)


@given(_street_and_variant())
def test_spelling_variants_give_the_canonical_key(pair):
    canonical, variant = pair
    assert street_key(variant) == street_key(canonical)
