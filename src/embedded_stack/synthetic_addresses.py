"""Patron addresses for the synthetic Sierra: mostly gazetteer streets spelled the way
people write them, plus the trouble real data has (blank, jammed, foreign, unicode, long,
PO boxes, addresses the geocoder cannot match or cannot tell apart) and the traps a
geocoder working from TIGER/Line files has to get right: Queens numbers ("35-10"),
numbers with a letter or a half ("12A", "12-A", "12 1/2"), Fort and Saint spelled out or
not, streets under their alternate names (Malcolm X Blvd for Lenox Ave), both sides of
tract-boundary streets, a wrong ZIP with the right city, no ZIP, and one name (Broadway)
in several boroughs."""

from __future__ import annotations

import bisect
import itertools
import random
import re
from collections.abc import Callable
from typing import ClassVar, Generic, NamedTuple, TypeVar

from .gazetteer import STREETS, GazetteerStreet, streets_named

FULL_WIDTH_DIGITS = {ord(digit): ord(digit) + 0xFEE0 for digit in "0123456789"}


class AddressParts(NamedTuple):
    addr1: str | None = None
    addr2: str | None = None
    addr3: str | None = None
    village: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


T = TypeVar("T")


class Weighted(Generic[T]):
    """Values with relative weights; cheaper per draw than random.choices."""

    def __init__(self, *pairs: tuple[T, float]):
        self.values = tuple(value for value, _ in pairs)
        *self._bounds, self._total = itertools.accumulate(weight for _, weight in pairs)

    def pick(self, rng: random.Random) -> T:
        return self.values[bisect.bisect(self._bounds, rng.random() * self._total)]


class AddressMaker:
    """Patron addresses, mostly gazetteer streets spelled the way people write them."""

    KINDS = Weighted(
        ("gazetteer", 55), ("partial", 6), ("empty", 3), ("unicode", 4), ("punctuation", 4),
        ("jammed", 5), ("no_match", 4), ("tie", 2), ("long", 2), ("po_box", 2),
        ("alphanumeric", 2), ("alternate_name", 2), ("fort_or_saint", 2), ("boundary", 3),
        ("wrong_zip", 2), ("missing_zip", 2),
    )  # fmt: skip
    ADDR2 = Weighted[str | None]((None, 70), ("", 30))
    REGIONS = Weighted(("NY", 70), ("New York", 15), ("ny", 5), ("N.Y.", 5), (" NY ", 5))
    COUNTRIES = Weighted[str | None]((None, 70), ("", 10), ("US", 10), ("USA", 10))
    POSTAL_FORMS = Weighted(
        ("{zip}", 70), ("{zip}-{plus4}", 18), ("{zip} {plus4}", 4), (" {zip} ", 4), ("{zip}  ", 4)
    )
    CASES = Weighted[Callable[[str], str]]((str, 85), (str.upper, 10), (str.lower, 5))
    DIRECTIONS: ClassVar[dict[str, tuple[str, ...]]] = {
        "E": ("East", "E", "E."),
        "W": ("West", "W", "W."),
    }
    SUFFIXES: ClassVar[dict[str, tuple[str, ...]]] = {
        "ST": ("Street", "St", "St."),
        "AVE": ("Avenue", "Ave", "Av"),
        "BLVD": ("Boulevard", "Blvd", "Blvd."),
        "RD": ("Road", "Rd", "Rd."),
        "PKWY": ("Parkway", "Pkwy", "Pky"),
    }
    ORDINAL = re.compile(r"^(\d+)(ST|ND|RD|TH)$")
    QUEENS_HYPHEN = 0.7  # of Queens numbers are written the Queens way: "35-10"
    # How patrons add a letter or a half to a number ("{}" is the number as written).
    NUMBER_SUFFIXES = ("{}A", "{}B", "{}-A", "{} 1/2", "{}C", "{}-D")
    UNITS = ("Apt {}", "Apt. {}", "#{}", "Unit {}", "APT {}", "Apartment {}", "Fl {}")
    INVENTED_STREETS = ("Maple Ln", "Orchard Ter", "Willow Ct", "Hemlock Dr", "Juniper Way")
    FOREIGN = (
        AddressParts("12 Rue de l'Église", None, None, None, "Montréal", "QC", "H2X 1Y4", "Canada"),
        AddressParts("Calle Señor de los Milagros 45", "", "", "", "Lima", "", "15001", "Perú"),
        AddressParts("北京市朝阳区建国路88号", None, None, None, "北京", "", "100022", "中国"),
        AddressParts("東京都千代田区丸の内1-1", None, None, None, "東京", "", "100-0005", "日本"),
    )
    CARE_OF = ("c/o José Ñúñez", "Attn: 李小龍", "Chez Zoë Brontë", "c/o Ångström Façade Ltd")
    PO_BOX_ZIPS = ("10008", "10108", "10163", "10150", "11202", "10451")

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.broadways = streets_named("BROADWAY")
        self.with_alternates = [s for s in STREETS if s.alternate_names]
        self.fort_and_saint = [s for s in STREETS if s.name.split()[0] in ("FT", "ST")]
        self.boundaries = [s for s in STREETS if s.is_tract_boundary]

    def make(self) -> AddressParts:
        return getattr(self, f"_{self.KINDS.pick(self.rng)}")()

    def _gazetteer(
        self, street: GazetteerStreet | None = None, *, line: str | None = None
    ) -> AddressParts:
        rng = self.rng
        street = street or rng.choice(STREETS)
        line = line or self._line(street, rng.randint(street.low, street.high))
        addr2 = self.ADDR2.pick(rng)
        placement = rng.random()
        if placement < 0.3:
            line += rng.choice((", ", " ")) + self._unit()
        elif placement < 0.45:
            addr2 = self._unit()
        return AddressParts(
            addr1=line,
            addr2=addr2,
            city=self._city(street),
            region=self.REGIONS.pick(rng),
            postal_code=self._postal_code(street.zip_code),
            country=self.COUNTRIES.pick(rng),
        )

    def _partial(self) -> AddressParts:
        parts = self._gazetteer()
        blanked = self.rng.sample(["city", "region", "postal_code"], self.rng.randint(1, 2))
        return parts._replace(**{name: self.rng.choice(("", None, "  ")) for name in blanked})

    def _empty(self) -> AddressParts:
        blank = self.rng.choice(("", None, " "))
        if self.rng.random() < 0.2:
            return AddressParts(*[blank] * 7, country="US")
        return AddressParts(*[blank] * 8)

    def _unicode(self) -> AddressParts:
        rng = self.rng
        choice = rng.random()
        if choice < 0.3:
            return rng.choice(self.FOREIGN)
        parts = self._gazetteer()
        if choice < 0.6:
            return parts._replace(addr2=rng.choice(self.CARE_OF))
        addr1 = parts.addr1 or ""
        if choice < 0.8:  # pasted text: a no-break space and an en dash
            return parts._replace(addr1=addr1.replace(" ", "\u00a0", 1) + " \u2013 Rear")
        # Full-width digits, as typed with an East Asian input method.
        return parts._replace(addr1=addr1.translate(FULL_WIDTH_DIGITS))

    def _punctuation(self) -> AddressParts:
        rng = self.rng
        parts = self._gazetteer()
        street = (parts.addr1 or "").split(",")[0]
        unit = self._unit()
        addr1 = rng.choice(
            (
                f'{street}, Apt "{unit.split()[-1]}"',
                f"O'Neill House, {street}",
                f"{street}., {unit}, Rear",
                f"{street}${unit}",  # Sierra's subfield separator, left in by a migration
                f"{street}\n{unit}",
                f'"{street}"',
                f"{street};{unit}",
            )
        )
        parts = parts._replace(addr1=addr1)
        if rng.random() < 0.2:
            parts = parts._replace(city=f"{parts.city}, NY", region="")
        return parts

    def _jammed(self) -> AddressParts:
        rng = self.rng
        street = rng.choice(STREETS)
        line = self._line(street, rng.randint(street.low, street.high))
        city_line = f"{self._city(street)}, NY {self._postal_code(street.zip_code).strip()}"
        blank = rng.choice(("", None))
        if rng.random() < 0.7:
            separator = rng.choice((", ", " ", "  "))
            return AddressParts(
                f"{line}{separator}{city_line}", blank, blank, blank, blank, blank, blank
            )
        return AddressParts(line, city_line, blank, blank, blank, blank, blank)

    def _no_match(self) -> AddressParts:
        rng = self.rng
        street = rng.choice(STREETS)
        if rng.random() < 0.5:  # a real street, but past its last house number
            number = street.high + rng.randint(1_000, 5_000)
            return self._gazetteer(street)._replace(addr1=self._line(street, number))
        line = f"{rng.randint(1, 399)} {rng.choice(self.INVENTED_STREETS)}"
        return AddressParts(line, None, None, None, street.city, "NY", street.zip_code)

    def _tie(self) -> AddressParts:
        street = self.rng.choice(self.broadways)
        blank = self.rng.choice(("", None))
        line = self._line(street, self.rng.randint(street.low, street.high))
        return AddressParts(line, None, None, None, blank, self.rng.choice(("NY", "")), blank)

    def _long(self) -> AddressParts:
        parts = self._gazetteer()
        addr1 = (
            f"{(parts.addr1 or '').split(',')[0]}, Apartment {self._unit().split()[-1]},"
            " c/o The Residential Cooperative Management Office, Rear Building Entrance"
        )
        return parts._replace(addr1=addr1)

    def _po_box(self) -> AddressParts:
        rng = self.rng
        form = rng.choice(("PO Box {}", "P.O. Box {}", "Post Office Box {}", "BOX {}", "Pob {}"))
        zip_code = rng.choice(self.PO_BOX_ZIPS)
        city = "Brooklyn" if zip_code.startswith("11") else "New York"
        return AddressParts(
            form.format(rng.randint(1, 9999)), None, None, None, city, "NY", zip_code
        )

    def _alphanumeric(self) -> AddressParts:
        """A number with a letter or a half: the geocoder reads the number alone."""
        street = self.rng.choice(STREETS)
        number = self.rng.randint(street.low, street.high)
        suffix = self.rng.choice(self.NUMBER_SUFFIXES)
        return self._gazetteer(street, line=self._line(street, number, number_form=suffix))

    def _alternate_name(self) -> AddressParts:
        street = self.rng.choice(self.with_alternates)
        number = self.rng.randint(street.low, street.high)
        name = self.rng.choice(street.alternate_names)
        return self._gazetteer(street, line=self._line(street, number, name=name))

    def _fort_or_saint(self) -> AddressParts:
        return self._gazetteer(self.rng.choice(self.fort_and_saint))

    def _boundary(self) -> AddressParts:
        """A tract-boundary street: odd and even numbers are in different tracts."""
        return self._gazetteer(self.rng.choice(self.boundaries))

    def _wrong_zip(self) -> AddressParts:
        """The right city with another street's ZIP from the same borough."""
        street = self.rng.choice(STREETS)
        wrong = sorted(
            {s.zip_code for s in STREETS if s.borough == street.borough} - {street.zip_code}
        )
        return self._gazetteer(street)._replace(
            city=self._cased(street.city), postal_code=self._postal_code(self.rng.choice(wrong))
        )

    def _missing_zip(self) -> AddressParts:
        street = self.rng.choice(STREETS)
        return self._gazetteer(street)._replace(
            city=self._cased(street.city), postal_code=self.rng.choice(("", None, " "))
        )

    def _line(
        self,
        street: GazetteerStreet,
        number: int,
        *,
        name: str | None = None,
        number_form: str = "{}",
    ) -> str:
        words = []
        tokens = (name or street.name).split()
        for i, token in enumerate(tokens):
            last = i == len(tokens) - 1
            if i == 0 and not last and token in self.DIRECTIONS:
                words.append(self.rng.choice(self.DIRECTIONS[token]))
            elif i == 0 and not last and token == "ST":
                words.append(self.rng.choice(("Saint", "St.", "St")))
            elif i == 0 and not last and token == "FT":
                words.append(self.rng.choice(("Fort", "Ft.", "Ft")))
            elif last and i > 0 and token in self.SUFFIXES:
                words.append(self.rng.choice(self.SUFFIXES[token]))
            elif ordinal := self.ORDINAL.match(token):
                suffix = ordinal[2].lower() if self.rng.random() < 0.85 else ""
                words.append(ordinal[1] + suffix)
            elif i > 0 and token in ("OF", "THE"):
                words.append(token.lower())
            else:
                words.append(token.capitalize())
        written = str(number)
        if street.borough == "Queens" and number >= 1000 and self.rng.random() < self.QUEENS_HYPHEN:
            written = f"{number // 100}-{number % 100:02d}"
        return self._cased(f"{number_form.format(written)} {' '.join(words)}")

    def _city(self, street: GazetteerStreet) -> str:
        draw = self.rng.random()
        if draw < 0.7:
            city = street.city
        elif draw < 0.98:
            city = "The Bronx" if street.borough == "Bronx" and draw < 0.8 else street.borough
        else:
            city = "NYC"
        return self._cased(city)

    def _postal_code(self, zip_code: str) -> str:
        form = self.POSTAL_FORMS.pick(self.rng)
        return form.format(zip=zip_code, plus4=f"{self.rng.randrange(10_000):04d}")

    def _unit(self) -> str:
        unit = f"{self.rng.randint(1, 30)}{self.rng.choice('ABCDEFGH')}"
        return self.rng.choice(self.UNITS).format(unit)

    def _cased(self, text: str) -> str:
        return self.CASES.pick(self.rng)(text)
