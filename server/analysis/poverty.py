"""Income poverty: lines, per-capita income, FGT measures and their decomposition (docs/method.md 4).

Poverty is person-weighted FGT on per-capita values, each household against its own
line (state x sector x year x method); the household-weighted version is computed too
and labelled. Lines come from the shipped table with their source; a missing line is an
error that says which line and how to add it, never a guess.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from importlib import resources
from typing import Any, Callable, Hashable, Iterable, Literal, Mapping, Sequence

from ._numbers import Exact, Number, exact, ratio, total

Weighting = Literal["person", "household"]
Measure = Literal["income", "consumption"]
WEIGHTINGS: tuple[str, ...] = ("person", "household")
MEASURES: tuple[str, ...] = ("income", "consumption")
SECTORS: tuple[str, ...] = ("rural", "urban")

LINE_COLUMNS: tuple[str, ...] = ("method", "reference_year", "state", "sector", "line_rs_pcpm",
                                 "headcount_ratio_pct", "derived_from", "source", "verification")
SHIPPED_CSV = "data/india_poverty_lines.csv"
INTERNATIONAL_CSV = "data/international_poverty_lines.csv"

# States created after the lines were set use their parent state's line (docs/method.md 4.2; our rule).
SUCCESSOR_STATES: dict[str, str] = {"telangana": "andhra pradesh", "ladakh": "jammu & kashmir"}
# Other spellings of the same state or territory.
STATE_ALIASES: dict[str, str] = {
    "orissa": "odisha", "orissa (odisha)": "odisha", "pondicherry": "puducherry", "uttaranchal": "uttarakhand",
    "nct of delhi": "delhi", "all-india": "all india", "india": "all india",
}

HECTARE_IN_ACRES = Fraction("2.47105")
GUNTHA_IN_ACRES = Fraction(1, 40)


class MissingLine(LookupError):
    """No poverty line for the state, sector, year and method asked; the message says how to add one."""

    def __init__(self, state: str, sector: str, year: str, method: str, hint: str = ""):
        self.state, self.sector, self.year, self.method = state, sector, year, method
        example = f"{method},{year},{state},{sector},<Rs per person per month>,,,<source>,<verification>"
        super().__init__(
            f"No poverty line for {state}, {sector}, {year}, method {method}.{(' ' + hint) if hint else ''} "
            f"To add one, append a row to server/{SHIPPED_CSV} (or a CSV passed to PovertyLines.from_csv) with the "
            f"columns {','.join(LINE_COLUMNS)}, e.g. {example}. The line is never guessed.")


@dataclass(frozen=True)
class Line:
    """A poverty line in Rs per person per month, with where it comes from."""

    value: Decimal | Fraction | int | float
    state: str
    sector: str
    year: str
    method: str
    source: str
    verification: str = ""
    derived_from: str | None = None        # donor line for union territories, or the base of an updated line
    status: str = "official"               # official / derived / not adopted / updated (unofficial) / given
    headcount_ratio_pct: Decimal | None = None
    requested_state: str | None = None     # e.g. Telangana when the Andhra Pradesh line is used
    note: str | None = None

    @property
    def z(self) -> Exact:
        """The value ready for exact arithmetic."""
        return exact(self.value)

    @property
    def label(self) -> str:
        """One line of text for tables: what, where, when, how much and its status."""
        where = self.state if self.requested_state is None else f"{self.requested_state} (uses {self.state})"
        return f"{self.method} {self.year} {where} {self.sector}: Rs {_money(self.value)} [{self.status}]"


def _money(value: Number) -> str:
    v = exact(value)
    if isinstance(v, Fraction) and v.denominator == 1:
        return str(v.numerator)
    return f"{float(v):.2f}"


def _key(text: str) -> str:
    cleaned = re.sub(r"\s+", " ", str(text).strip().lower()).replace(" and ", " & ")
    return STATE_ALIASES.get(cleaned, cleaned)


def _method_key(text: str) -> str:
    """'Rangarajan (not adopted)' is found as 'Rangarajan'; the Line keeps the full name."""
    return re.sub(r"\s*\(.*\)\s*$", "", str(text).strip()).lower()


def _year_key(text: str) -> tuple[int, int] | str:
    match = re.fullmatch(r"\s*(\d{4})\s*[-\u2013/]\s*(\d{2}|\d{4})\s*", str(text))
    if not match:
        return str(text).strip()
    return int(match.group(1)), int(match.group(2)) % 100


def _sector(text: str) -> str:
    sector = str(text).strip().lower()
    if sector not in SECTORS:
        raise ValueError(f"sector must be rural or urban, not {text!r}")
    return sector


class PovertyLines:
    """A table of lines looked up by state, sector, year and method."""

    def __init__(self, lines: Iterable[Line]):
        self._lines: dict[tuple, Line] = {}
        for line in lines:
            self._lines[(_key(line.state), line.sector, _year_key(line.year), _method_key(line.method))] = line

    @classmethod
    def shipped(cls) -> PovertyLines:
        """The official Indian lines shipped in server/data/india_poverty_lines.csv (docs/method.md 4.2)."""
        text = resources.files("server").joinpath(SHIPPED_CSV).read_text(encoding="utf-8-sig")
        return cls.from_csv(text)

    @classmethod
    def from_csv(cls, text: str) -> PovertyLines:
        """Lines from CSV text with the shipped table's columns (extra columns are ignored)."""
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in ("method", "reference_year", "state", "sector", "line_rs_pcpm", "source")
                   if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"poverty-line CSV: missing column(s) {', '.join(missing)}")
        return cls(_line_from_row(row, number) for number, row in enumerate(reader, start=2))

    def __iter__(self):
        return iter(self._lines.values())

    def __len__(self) -> int:
        return len(self._lines)

    def line(self, state: str, sector: str, year: str = "2011-12", method: str = "Tendulkar") -> Line:
        """The line for one household's state x sector x year x method, or MissingLine.

        Telangana uses undivided Andhra Pradesh and Ladakh uses Jammu & Kashmir (docs/method.md 4.2).
        The default method is Tendulkar; Rangarajan (never adopted) is used only when asked for.
        """
        sector = _sector(sector)
        asked = _key(state)
        parent = SUCCESSOR_STATES.get(asked)
        found = self._lines.get((parent or asked, sector, _year_key(year), _method_key(method)))
        if found is None:
            raise MissingLine(str(state).strip(), sector, str(year).strip(), str(method).strip(),
                              self._available(parent or asked, sector, str(year).strip()))
        if parent is not None:
            found = replace(found, requested_state=str(state).strip(),
                            note=f"{str(state).strip()} uses the {found.state} line (the lines predate the state; "
                                 "docs/method.md 4.2)")
        return found

    def _available(self, state_key: str, sector: str, year: str) -> str:
        """What the table does have, so the user can tell a typo from a real gap."""
        hints = []
        methods = sorted({ln.method for (_, _, y, _), ln in self._lines.items() if y == _year_key(year)})
        if methods:
            hints.append(f"For {year} the table has method(s): {', '.join(methods)}.")
        have = [ln for (s, sec, _, _), ln in self._lines.items() if s == state_key and sec == sector]
        if have:
            hints.append(f"Lines for {have[0].state} {sector}: {', '.join(f'{ln.method} {ln.year}' for ln in have)}.")
        else:
            hints.append("The table has no line for this state at all.")
        return " ".join(hints)


def _line_from_row(row: Mapping[str, str], number: int) -> Line:
    def cell(name: str) -> str:
        """The stripped text of a column, '' when absent."""
        return (row.get(name) or "").strip()
    try:
        value = Decimal(cell("line_rs_pcpm"))
        headcount = Decimal(cell("headcount_ratio_pct")) if cell("headcount_ratio_pct") else None
    except InvalidOperation:
        raise ValueError(f"poverty-line CSV row {number}: {cell('line_rs_pcpm')!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"poverty-line CSV row {number}: the line must be a positive number")
    method = cell("method")
    status = "not adopted" if "not adopted" in method.lower() else ("derived" if cell("derived_from") else "official")
    return Line(value=value, state=cell("state"), sector=_sector(cell("sector")), year=cell("reference_year"),
                method=method, source=cell("source"), verification=cell("verification"),
                derived_from=cell("derived_from") or None, status=status, headcount_ratio_pct=headcount)


def updated_line(line: Line, index_base: Number, index_target: Number, index_name: str,
                 target_year: str | None = None) -> Line:
    """The line moved to another year by a price index, z_t = z_base * I_t / I_base.

    This is the project's own choice, not the official procedure, so the result is labelled
    'updated (unofficial)' and carries the index and the formula (docs/method.md 4.2).
    """
    if exact(index_base) <= 0 or exact(index_target) <= 0:
        raise ValueError("price indices must be positive")
    value = line.z * ratio(index_target, index_base)
    formula = (f"z_t = z_base * I_t / I_base = {_money(line.value)} * {index_target} / {index_base} "
               f"({index_name})")
    return replace(line, value=value, year=target_year or f"{line.year} updated", status="updated (unofficial)",
                   source=f"{line.source}; updated (unofficial) by {index_name}: {formula}",
                   derived_from=f"{line.method} {line.year} {line.state} {line.sector} Rs {_money(line.value)}",
                   headcount_ratio_pct=None, note=formula)


def ppp_line(usd_per_day: Number, ppp: Number, cpi_ratio: Number = 1) -> Exact:
    """An international line in Rs per person per month: L $/day x PPP x CPI_t/CPI_base x 365/12.

    `ppp` is the private-consumption PPP (LCU per international $) of the line's own base
    year, supplied with its source by the caller; no PPP is built in (docs/method.md 4.2).
    """
    for name, v in (("usd_per_day", usd_per_day), ("ppp", ppp), ("cpi_ratio", cpi_ratio)):
        if exact(v) <= 0:
            raise ValueError(f"{name} must be positive")
    return exact(usd_per_day) * exact(ppp) * exact(cpi_ratio) * Fraction(365, 12)


@dataclass(frozen=True)
class InternationalLine:
    """A World Bank line in US$ per person per day at PPP of a base year (docs/method.md 4.2)."""

    line_id: str
    usd_per_day: Decimal
    ppp_base_year: int
    status: str
    applies_to: str
    source: str
    verification: str


def international_lines() -> dict[str, InternationalLine]:
    """The World Bank lines shipped in server/data/international_poverty_lines.csv, by line_id."""
    text = resources.files("server").joinpath(INTERNATIONAL_CSV).read_text(encoding="utf-8-sig")
    return {row["line_id"]: InternationalLine(
        line_id=row["line_id"], usd_per_day=Decimal(row["usd_per_person_per_day"]),
        ppp_base_year=int(row["ppp_base_year"]), status=row["status"], applies_to=row["applies_to"],
        source=row["source"], verification=row["verification"]) for row in csv.DictReader(io.StringIO(text))}


# -- households and FGT --------------------------------------------------------------

@dataclass(frozen=True)
class Household:
    """What FGT needs about one household: monthly income Y (may be negative), size n, its own line z."""

    id: Hashable
    income_monthly: Number
    size: int
    line: Line | Number
    weight: Number = 1
    consumption_monthly: Number | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"household {self.id}: size must be a whole number of at least 1, not {self.size!r}")
        exact(self.income_monthly)
        if self.z <= 0:
            raise ValueError(f"household {self.id}: the poverty line must be positive")
        if exact(self.weight) < 0:
            raise ValueError(f"household {self.id}: the weight cannot be negative")
        if self.consumption_monthly is not None and exact(self.consumption_monthly) < 0:
            raise ValueError(f"household {self.id}: consumption cannot be negative")

    @property
    def z(self) -> Exact:
        """The household's line as a number."""
        return self.line.z if isinstance(self.line, Line) else exact(self.line)

    def per_capita(self, measure: Measure = "income") -> Exact:
        """y_i: per-capita income bottom-coded at 0, or per-capita consumption."""
        if measure == "income":
            return per_capita(self.income_monthly, self.size)[0]
        if measure == "consumption":
            if self.consumption_monthly is None:
                raise ValueError(f"household {self.id}: no consumption recorded")
            return per_capita(self.consumption_monthly, self.size)[0]
        raise ValueError(f"measure must be income or consumption, not {measure!r}")

    def is_poor(self, measure: Measure = "income") -> bool:
        """Strictly below the line: y = z is not poor (docs/method.md 4.3)."""
        return self.per_capita(measure) < self.z


def per_capita(income: Number, size: int) -> tuple[Exact, bool]:
    """(y = max(Y, 0) / n, neg_income flag): negative income is bottom-coded so the gap is at most 1."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a whole number of at least 1, not {size!r}")
    value = exact(income)
    return ratio(max(value, 0), size), value < 0


def _check_options(weighting: str, measure: str) -> None:
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be person or household, not {weighting!r}")
    if measure not in MEASURES:
        raise ValueError(f"measure must be income or consumption, not {measure!r}")


def _mass(household: Household, weighting: Weighting) -> Exact:
    """How much the household counts: w_i n_i persons, or w_i."""
    w = exact(household.weight)
    return w * household.size if weighting == "person" else w


def _term(household: Household, alpha: Number, measure: Measure) -> Exact:
    y, z = household.per_capita(measure), household.z
    if not y < z:
        return 0
    return ratio(z - y, z) ** exact(alpha)


def fgt(households: Iterable[Household], alpha: Number, weighting: Weighting = "person",
        measure: Measure = "income") -> Exact | None:
    """P_alpha = sum_i m_i poor_i ((z_i - y_i)/z_i)^alpha / sum_i m_i (docs/method.md 4.3).

    m_i is w_i n_i (person-weighted, the official convention) or w_i (household-weighted);
    poor means y_i < z_i strictly. Exact with exact inputs; None when there is nobody.
    """
    _check_options(weighting, measure)
    if exact(alpha) < 0:
        raise ValueError("alpha must be at least 0")
    people = list(households)
    mass = total(_mass(h, weighting) for h in people)
    if mass == 0:
        return None
    return ratio(total(_mass(h, weighting) * _term(h, alpha, measure) for h in people), mass)


@dataclass(frozen=True)
class FgtTable:
    """P0, P1, P2 person- and household-weighted, with the counts behind them."""

    person: dict[int, Exact | None]
    household: dict[int, Exact | None]
    n_households: int
    n_persons: int
    n_poor_households: int
    n_poor_persons: int
    weighted_households: Exact
    weighted_persons: Exact
    n_negative_income: int
    measure: str = "income"


def fgt_table(households: Iterable[Household], measure: Measure = "income",
              alphas: Sequence[int] = (0, 1, 2)) -> FgtTable:
    """Both weightings of P0, P1, P2 in one go; counts are unweighted, totals weighted."""
    people = list(households)
    poor = [h for h in people if h.is_poor(measure)]
    return FgtTable(
        person={a: fgt(people, a, "person", measure) for a in alphas},
        household={a: fgt(people, a, "household", measure) for a in alphas},
        n_households=len(people), n_persons=sum(h.size for h in people),
        n_poor_households=len(poor), n_poor_persons=sum(h.size for h in poor),
        weighted_households=total(_mass(h, "household") for h in people),
        weighted_persons=total(_mass(h, "person") for h in people),
        n_negative_income=sum(1 for h in people if exact(h.income_monthly) < 0), measure=measure)


@dataclass(frozen=True)
class GroupRow:
    """One group's part of P_alpha: its population share, its own P_alpha and its contribution."""

    group: Hashable
    n_households: int
    n_persons: int
    population_share: Exact | None      # N_g / N (weighted as P_alpha is)
    p_alpha: Exact | None               # None when the group has no weight
    contribution: Exact | None          # (N_g / N) P_alpha,g / P_alpha; None when P_alpha = 0


@dataclass(frozen=True)
class Decomposition:
    """P_alpha = sum_g (N_g / N) P_alpha,g over the groups of one variable (docs/method.md 4.3)."""

    by: str
    alpha: Number
    weighting: str
    total: Exact | None
    groups: list[GroupRow]


def decompose(households: Iterable[Household], by: str | Callable[[Household], Hashable], alpha: Number,
              weighting: Weighting = "person", measure: Measure = "income") -> Decomposition:
    """Split P_alpha by a household attribute (a key of attrs, or a function of the household).

    Households without the attribute form the group None, so the groups always recombine
    exactly to the total; the contributions then sum to 1 (when P_alpha > 0).
    """
    _check_options(weighting, measure)
    people = list(households)
    key = by if callable(by) else (lambda h: h.attrs.get(by))
    groups: dict[Hashable, list[Household]] = {}
    for h in people:
        groups.setdefault(key(h), []).append(h)
    overall = fgt(people, alpha, weighting, measure)
    mass = total(_mass(h, weighting) for h in people)
    rows = []
    for group in sorted(groups, key=lambda g: (g is None, str(g))):
        members = groups[group]
        share = ratio(total(_mass(h, weighting) for h in members), mass) if mass else None
        p_group = fgt(members, alpha, weighting, measure)
        contribution = None
        if overall and p_group is not None:
            contribution = share * p_group / overall
        rows.append(GroupRow(group=group, n_households=len(members), n_persons=sum(h.size for h in members),
                             population_share=share, p_alpha=p_group, contribution=contribution))
    name = by if isinstance(by, str) else getattr(by, "__name__", "group")
    return Decomposition(by=name, alpha=alpha, weighting=weighting, total=overall, groups=rows)


# -- grouping variables -------------------------------------------------------------

SOURCE_ACRES: tuple[tuple[str, Fraction, bool], ...] = (
    # (class, upper bound in acres, bound included) on the source documents' scheme [our choice, docs/method.md 4.1]
    ("marginal", Fraction(1), False), ("small", Fraction(5, 2), False), ("semi-medium", Fraction(49, 10), False),
    ("medium", Fraction(10), True),
)
CENSUS_HECTARES: tuple[tuple[str, Fraction, bool], ...] = (
    # Agriculture Census size classes in hectares (docs/method.md 4.1)
    ("marginal", Fraction(1), False), ("small", Fraction(2), False), ("semi-medium", Fraction(4), False),
    ("medium", Fraction(10), False),
)
LAND_SCHEMES: dict[str, tuple[tuple[str, Fraction, bool], ...]] = {
    "source_acres": SOURCE_ACRES, "census_hectares": CENSUS_HECTARES}


def area_in_acres(area: Number, unit: str, bigha_in_acres: Number | None = None) -> Exact:
    """Convert a land area to acres: hectare x 2.47105, guntha / 40, bigha by the local factor (no default)."""
    value = exact(area)
    if value < 0:
        raise ValueError("land area cannot be negative")
    unit_key = str(unit).strip().lower().rstrip("s")
    if unit_key in ("acre", "ac"):
        return value
    if unit_key in ("hectare", "ha"):
        return value * HECTARE_IN_ACRES
    if unit_key == "guntha":
        return value * GUNTHA_IN_ACRES
    if unit_key == "bigha":
        if bigha_in_acres is None:
            raise ValueError("a bigha differs by state: give bigha_in_acres, the local size of one bigha in acres")
        if exact(bigha_in_acres) <= 0:
            raise ValueError("bigha_in_acres must be positive")
        return value * exact(bigha_in_acres)
    raise ValueError(f"unknown land unit {unit!r} (acre, hectare, guntha or bigha)")


def land_class(area: Number, unit: str, bigha_in_acres: Number | None = None,
               scheme: Literal["source_acres", "census_hectares"] = "source_acres", landless: bool = False) -> str:
    """The land class of an owned or operated area (docs/method.md 4.1).

    'source_acres' (default): marginal [0, 1), small [1, 2.5), semi-medium [2.5, 4.9),
    medium [4.9, 10], large > 10 acres. 'census_hectares': < 1, 1-2, 2-4, 4-10, >= 10 ha.
    With `landless`, an area of exactly 0 is 'landless' instead of 'marginal'.
    """
    if scheme not in LAND_SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(LAND_SCHEMES)}, not {scheme!r}")
    acres = area_in_acres(area, unit, bigha_in_acres)
    if landless and acres == 0:
        return "landless"
    size = acres if scheme == "source_acres" else ratio(acres, HECTARE_IN_ACRES)
    if scheme == "census_hectares" and str(unit).strip().lower().rstrip("s") in ("hectare", "ha"):
        size = exact(area)   # no round trip through acres
    for name, upper, included in LAND_SCHEMES[scheme]:
        if size < upper or (included and size == upper):
            return name
    return "large"


SOCIAL_GROUPS = {"1": "ST", "2": "SC", "3": "OBC", "9": "other"}   # NSS codes (docs/method.md 4.1)
ISLAM = "2"                                                         # NSS religion code


def social_group_for_fgt(social_group_code: int | str | None, religion_code: int | str | None,
                         muslim_over_obc: bool = True) -> str | None:
    """ST / SC / OBC / Muslim / other for the FGT decomposition (docs/method.md 4.3).

    Muslim comes from religion = 2. The groups must not overlap, so an order is needed:
    ST and SC first, then Muslim, then OBC (so Muslim OBC households, many of the weavers,
    count as Muslim); `muslim_over_obc=False` puts OBC before Muslim. None when the social
    group is not recorded.
    """
    group = None if social_group_code in (None, "") else str(social_group_code).strip()
    religion = None if religion_code in (None, "") else str(religion_code).strip()
    if group is not None and group not in SOCIAL_GROUPS:
        raise ValueError(f"unknown NSS social group code {social_group_code!r} (1 ST, 2 SC, 3 OBC, 9 others)")
    if group is None:
        return None
    name = SOCIAL_GROUPS[group]
    if name in ("ST", "SC"):
        return name
    if religion == ISLAM and (muslim_over_obc or name != "OBC"):
        return "Muslim"
    return name
