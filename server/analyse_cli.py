"""`ppa analyse`: the analysis package over CSV files, printed as aligned tables or as JSON.

Thin commands: read and check the CSV (a bad cell is reported with its row and column and
exit code 2, never a traceback), call server.analysis, format. With --json every exact
value is given twice: as a float under its name and as a string like "13/22" under
name + "_exact".
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Sequence

import click

from .analysis import agreement, change as change_mod, concordance as concordance_mod, poverty, wellbeing

Row = dict[str, str]
INPUT = click.Path(exists=True, dir_okay=False, readable=True)


class InputError(click.ClickException):
    """A CSV the command cannot use; the message names the file, row and column. Exit code 2."""

    exit_code = 2


# -- reading CSVs --------------------------------------------------------------------

class Table:
    """A CSV read as stripped strings, each row with its line number (the header is row 1)."""

    def __init__(self, path: str, required: Sequence[str] = (), one_of: Sequence[Sequence[str]] = ()):
        self.name = path
        try:
            text = Path(path).read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        reader = csv.DictReader(io.StringIO(text))
        self.columns = [(c or "").strip() for c in (reader.fieldnames or [])]
        if not self.columns:
            raise InputError(f"{path}: the file is empty (a header row is needed)")
        reader.fieldnames = self.columns
        missing = [c for c in required if c not in self.columns]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)} (the header has "
                             f"{', '.join(self.columns)})")
        for options in one_of:
            if not any(all(c in self.columns for c in group.split(",")) for group in options):
                raise InputError(f"{path}: needs the column(s) {' or '.join(options)}")
        self.rows: list[tuple[int, Row]] = []
        for number, row in enumerate(reader, start=2):
            if None in row:
                raise InputError(f"{path} row {number}: more cells than the header has columns")
            cells = {k: (v or "").strip() for k, v in row.items()}
            if any(cells.values()):
                self.rows.append((number, cells))
        if not self.rows:
            raise InputError(f"{path}: no data rows")

    def has(self, *columns: str) -> bool:
        """True when every column is in the header."""
        return all(c in self.columns for c in columns)

    def error(self, number: int, column: str, message: str) -> InputError:
        """The error for one cell: 'FILE row N, column C: message'."""
        return InputError(f"{self.name} row {number}, column {column}: {message}")

    def text(self, number: int, row: Row, column: str) -> str:
        """A cell that must not be blank."""
        value = row.get(column, "")
        if not value:
            raise self.error(number, column, "empty")
        return value

    def number(self, number: int, row: Row, column: str, minimum: int | None = None,
               positive: bool = False, default: Decimal | None = None) -> Decimal:
        """A decimal number (exact), blank allowed only with a default."""
        value = row.get(column, "")
        if not value and default is not None:
            return default
        try:
            parsed = Decimal(value)
        except InvalidOperation:
            parsed = None
        if parsed is None or not parsed.is_finite():
            raise self.error(number, column, f"{value!r} is not a number")
        if positive and parsed <= 0:
            raise self.error(number, column, f"{value!r} must be greater than 0")
        if minimum is not None and parsed < minimum:
            raise self.error(number, column, f"{value!r} must be at least {minimum}")
        return parsed

    def whole(self, number: int, row: Row, column: str, minimum: int | None = None) -> int:
        """A whole number like 4 (also '4.0'), at least `minimum`."""
        value = row.get(column, "")
        if not re.fullmatch(r"[+-]?\d+(\.0*)?", value):
            raise self.error(number, column, f"{value!r} is not a whole number")
        parsed = int(Decimal(value))
        if minimum is not None and parsed < minimum:
            raise self.error(number, column, f"{value!r} must be at least {minimum}")
        return parsed

    def level(self, number: int, row: Row, column: str) -> int | None:
        """happy / average / sad or 1 / 2 / 3; blank or dk is don't know."""
        try:
            return wellbeing.parse_level(row.get(column, ""))
        except ValueError:
            raise self.error(number, column, f"{row.get(column)!r} is not happy, average, sad, 1, 2, 3 or "
                                             "blank/dk") from None

    def unique(self, column: str) -> None:
        """Fail on a repeated value, naming the row that repeats it."""
        seen: dict[str, int] = {}
        for number, row in self.rows:
            value = self.text(number, row, column)
            if value in seen:
                raise self.error(number, column, f"{value!r} appears twice (first in row {seen[value]})")
            seen[value] = number


# -- formatting ----------------------------------------------------------------------

def fmt(value: Any, places: int = 4) -> str:
    """A number for a table: ints as they are, other numbers to `places` decimals, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (Fraction, Decimal, float)):
        return f"{float(value):.{places}f}"
    return str(value)


def exact_text(value: Any) -> str | None:
    """'13/22' for a Fraction or Decimal, None for floats and the rest."""
    if isinstance(value, Decimal):
        value = Fraction(value)
    if isinstance(value, Fraction):
        return str(value)
    return None


def fmt_exact(value: Any, longest: int = 13) -> str:
    """The exact fraction when it is short enough to read, else blank."""
    text = exact_text(value)
    return text if text is not None and len(text) <= longest and "/" in text else ""


_NUMERIC = re.compile(r"^[-+]?[\d.,/]+[%*]?$|^-$")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """An aligned text table; columns of numbers are right-aligned."""
    body = [[c if isinstance(c, str) else fmt(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]
    numeric = [bool(body) and all(_NUMERIC.match(r[i]) or not r[i] for r in body) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        """One row, padded."""
        return "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)).rstrip()
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in body])


def jsonable(value: Any) -> Any:
    """Plain JSON: Fractions and Decimals become floats with an '<name>_exact' string beside them in dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = "(missing)" if key is None else str(key)
            out[name] = jsonable(item)
            if exact_text(item) is not None:
                out[f"{name}_exact"] = exact_text(item)
        return out
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (Fraction, Decimal)):
        return float(value)
    return value


def emit(payload: dict[str, Any]) -> None:
    """Print the payload as indented JSON."""
    click.echo(json.dumps(jsonable(payload), indent=2, ensure_ascii=False))


# -- the command group ---------------------------------------------------------------

@click.group("analyse", help="Analyse PPA data from CSV files: well-being ranking, poverty, concordance, change.")
def analyse() -> None:
    """The `ppa analyse` group; registered on the main `ppa` command."""


def _ratings(src: Table) -> tuple[list[wellbeing.Rating], dict[tuple[str, int], int]]:
    piles_mode = src.has("pile", "piles")
    ratings: list[wellbeing.Rating] = []
    pile_levels: dict[tuple[str, int], int] = {}
    group_piles: dict[str, tuple[int, int]] = {}
    seen: dict[tuple[str, str], int] = {}
    for number, row in src.rows:
        hh, group = src.text(number, row, "household_id"), src.text(number, row, "group_id")
        if (hh, group) in seen:
            raise src.error(number, "group_id", f"group {group!r} rates household {hh!r} twice "
                                                f"(first in row {seen[hh, group]})")
        seen[hh, group] = number
        level = src.level(number, row, "level") if src.has("level") else None
        if not piles_mode:
            ratings.append(wellbeing.Rating(hh, group, level=level))
            continue
        piles = src.whole(number, row, "piles", minimum=2)
        if group in group_piles and group_piles[group][0] != piles:
            raise src.error(number, "piles", f"group {group!r} used {group_piles[group][0]} piles in row "
                                             f"{group_piles[group][1]}, not {piles}")
        group_piles.setdefault(group, (piles, number))
        pile = None
        if row.get("pile", "").lower() in wellbeing.DONT_KNOW and level is not None:
            raise src.error(number, "level", "a level is given but the pile is blank or dk (in a pile,piles file "
                                             "the level column maps each pile to a level)")
        if row.get("pile", "").lower() not in wellbeing.DONT_KNOW:
            pile = src.whole(number, row, "pile", minimum=1)
            if pile > piles:
                raise src.error(number, "pile", f"pile {pile} is more than the group's {piles} piles")
        if pile is not None and level is not None:
            if pile_levels.setdefault((group, pile), level) != level:
                raise src.error(number, "level", f"group {group!r} pile {pile} maps to "
                                                 f"{pile_levels[group, pile]} elsewhere, not {level}")
        ratings.append(wellbeing.Rating(hh, group, level=level, pile=pile, piles=piles))
    return ratings, pile_levels


@analyse.command("wellbeing", help="Combine informant groups' well-being ratings and measure their agreement. "
                                   "RATINGS.csv: household_id,group_id and level (happy/average/sad or 1/2/3; "
                                   "blank or dk = don't know) or pile,piles (plus level as the pile mapping).")
@click.argument("ratings_csv", metavar="RATINGS.csv", type=INPUT)
@click.option("--tie", type=click.Choice(wellbeing.TIES), default="average", show_default=True,
              help="Where a mean of exactly 1.5 or 2.5 goes: average, the poorer or the better category.")
@click.option("--min-groups", type=click.IntRange(min=1), default=2, show_default=True,
              help="Flag households placed by fewer groups than this.")
@click.option("--households", "show_households", is_flag=True, help="List every household, not only flagged ones.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def wellbeing_command(ratings_csv: str, tie: str, min_groups: int, show_households: bool, as_json: bool) -> None:
    """Combined categories, flagged households, pairwise agreement, Fleiss' kappa and Kendall's W."""
    src = Table(ratings_csv, required=("household_id", "group_id"), one_of=[("level", "pile,piles")])
    ratings, pile_levels = _ratings(src)
    combined = wellbeing.combine(ratings, tie=tie, min_groups=min_groups, pile_levels=pile_levels)
    groups = wellbeing.by_group(combined)
    mean_rule, majority_rule = wellbeing.summary(combined), wellbeing.summary(combined, rule="majority")
    pairs = agreement.pairwise(groups)
    coverage = agreement.coverage(groups)
    common, counts = agreement.fleiss_table(groups)
    fleiss = agreement.fleiss_kappa(counts) if len(groups) >= 2 and counts else None
    w = agreement.kendalls_w(groups)
    no_level = sum(1 for r in ratings if r.pile is not None and r.effective_level is None
                   and (r.group, r.pile) not in pile_levels)
    if as_json:
        emit({"file": ratings_csv, "tie": tie, "min_groups": min_groups, "groups": list(groups),
              "summary": mean_rule, "summary_majority": majority_rule,
              "households": [_household_json(c) for c in combined.values()], "coverage": coverage,
              "pairwise": [dict(dataclasses.asdict(p), pair=list(p.pair), band=agreement.landis_koch(p.kappa))
                           for p in pairs],
              "fleiss_kappa": fleiss, "fleiss_households": len(common), "kendalls_w": w,
              "kendalls_w_households": len(common), "ratings_without_level": no_level})
        return
    out = [f"Well-being categories: {len(combined)} households, {len(groups)} groups "
           f"(mean rule, ties -> {tie}; majority rule beside it)", ""]
    out.append(_shares_table(mean_rule, majority_rule))
    out.append(f"rated {mean_rule.n_rated}, flagged for review {mean_rule.n_flagged}, unrated {mean_rule.n_unrated}")
    if mean_rule.small_n:
        out.append("* fewer than 5 households rated: shares are indicative only (grey them out)")
    if no_level:
        out.append(f"{no_level} pile ratings have no level (groups with other than 3 piles need a level column "
                   "giving each pile's level); they count in the Grandin scores only")
    listed = [c for c in combined.values() if show_households or c.needs_review]
    out += ["", "Households" if show_households else "Households needing review (range 2 or too few groups)"]
    out.append(table(["household", *map(str, groups), "mean", "final", "majority", "grandin", "normalised", "flags"],
                     [[str(c.household), *(_level_text(c.levels, g) for g in groups), c.mean, c.final or "-",
                       c.majority or "-", fmt(c.grandin, 2), fmt(c.normalised, 2), ", ".join(c.flags)]
                      for c in listed]) if listed else "none")
    out += ["", "Coverage of the household list by group"]
    out.append(table(["group", "listed", "placed", "don't know", "not asked", "share placed"],
                     [[str(c.group), c.n_listed, c.n_placed, c.n_dont_know, c.n_not_asked, c.share_placed]
                      for c in coverage]))
    out += ["", "Pairwise agreement (households placed by both groups)"]
    out.append(table(["pair", "n", "p_o", "p_e", "kappa", "kappa_linear", "kappa_quadratic", "spearman",
                      "kappa_se", "band"],
                     [[f"{p.pair[0]}-{p.pair[1]}", p.n, p.p_o, p.p_e, p.kappa, p.kappa_linear, p.kappa_quadratic,
                       p.spearman, p.kappa_se, agreement.landis_koch(p.kappa) or "-"] for p in pairs])
               if pairs else "needs at least two groups")
    out += ["", f"Fleiss' kappa: {fmt(fleiss)} {_paren(fleiss)}over {len(common)} households placed by all "
                f"{len(groups)} groups" + (f" [{agreement.landis_koch(fleiss)}]" if fleiss is not None else ""),
            f"Kendall's W:   {fmt(w)} {_paren(w)}over the same {len(common)} households (ties corrected)",
            "Bands (Landis & Koch) are guidance for the discussion, not a pass mark."]
    click.echo("\n".join(out))


def _paren(value: Any) -> str:
    text = fmt_exact(value)
    return f"({text}) " if text else ""


def _level_text(levels: dict, group: Any) -> str:
    """The group's level, 'dk' for don't know, blank when the group was not asked."""
    if group not in levels:
        return ""
    return "dk" if levels[group] is None else str(levels[group])


def plural(count: int, word: str) -> str:
    """'1 household', '2 households'."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _household_json(c: wellbeing.Combined) -> dict[str, Any]:
    return {"household": c.household, "levels": c.levels, "n_groups": c.n_groups, "mean": c.mean,
            "final": c.final, "majority": c.majority, "final_majority": c.final_majority, "grandin": c.grandin,
            "normalised": c.normalised, "range": c.range, "flags": list(c.flags)}


def _shares_table(mean_rule: wellbeing.Shares, majority_rule: wellbeing.Shares) -> str:
    mark = "*" if mean_rule.small_n else ""
    return table(["category", "n", "share", "n (majority)", "share (majority)"],
                 [[c, mean_rule.counts[c], fmt(mean_rule.shares[c]) + mark, majority_rule.counts[c],
                   fmt(majority_rule.shares[c]) + mark] for c in wellbeing.CATEGORIES])


# -- poverty -------------------------------------------------------------------------

def _households(src: Table, lines: poverty.PovertyLines | None, year: str, method: str,
                need_line: bool = True) -> list[poverty.Household]:
    """Households from a CSV: household_id, income_monthly, size, line or state+sector, optional weight."""
    src.unique("household_id")
    known = {"household_id", "income_monthly", "income_complete", "size", "line", "weight", "consumption_monthly"}
    result = []
    for number, row in src.rows:
        hh = row["household_id"]
        line: poverty.Line | Decimal
        if row.get("line"):
            line = src.number(number, row, "line", positive=True)
        elif need_line and lines is not None and src.has("state", "sector"):
            state, sector = src.text(number, row, "state"), src.text(number, row, "sector")
            try:
                line = lines.line(state, sector, year=year, method=method)
            except ValueError as exc:
                raise src.error(number, "sector", str(exc)) from None
            except poverty.MissingLine as exc:
                raise InputError(f"{src.name} row {number}: {exc}") from None
        else:
            raise src.error(number, "line", "empty")
        consumption = None
        if row.get("consumption_monthly"):
            consumption = src.number(number, row, "consumption_monthly", minimum=0)
        result.append(poverty.Household(
            id=hh, income_monthly=src.number(number, row, "income_monthly"),
            size=src.whole(number, row, "size", minimum=1), line=line,
            weight=src.number(number, row, "weight", minimum=0, default=Decimal(1)),
            consumption_monthly=consumption,
            attrs={k: (v or None) for k, v in row.items() if k not in known}))
    return result


def _leave_out_incomplete(src: Table) -> int:
    """Drop the rows whose income_complete is 'no' (an amount not known or refused: the income is only a lower
    bound, so it is never measured as if the unknown were zero); returns how many were left out."""
    if not src.has("income_complete"):
        return 0
    kept = []
    for number, row in src.rows:
        value = (row.get("income_complete") or "").strip().lower()
        if value not in ("yes", "no"):
            raise src.error(number, "income_complete", f"{value!r} is not yes or no")
        if value == "yes":
            kept.append((number, row))
    left_out = len(src.rows) - len(kept)
    src.rows = kept
    return left_out


def _lines_used(src: Table, households: list[poverty.Household]) -> list[dict[str, Any]]:
    used: dict[str, dict[str, Any]] = {}
    for h in households:
        if isinstance(h.line, poverty.Line):
            entry = used.setdefault(h.line.label, {"line": h.line.label, "value": h.line.value,
                                                   "status": h.line.status, "source": h.line.source,
                                                   "verification": h.line.verification, "note": h.line.note,
                                                   "households": 0})
        else:
            label = f"Rs {fmt(h.line, 2)} given in column line"
            entry = used.setdefault(label, {"line": label, "value": h.line, "status": "given",
                                            "source": f"{src.name}, column line", "verification": "",
                                            "note": None, "households": 0})
        entry["households"] += 1
    return list(used.values())


@analyse.command("poverty", help="FGT poverty measures P0, P1, P2, person- and household-weighted. HOUSEHOLDS.csv: "
                                 "household_id,income_monthly,size and line or state,sector; optional weight.")
@click.argument("households_csv", metavar="HOUSEHOLDS.csv", type=INPUT)
@click.option("--by", "by", metavar="COLUMN", help="Decompose by this column (e.g. sex_head, social_group, node).")
@click.option("--year", default="2011-12", show_default=True, help="Reference year of the official lines.")
@click.option("--method", default="Tendulkar", show_default=True,
              help="Method of the official lines (Lakdawala for 1999-2000; Rangarajan was never adopted).")
@click.option("--weighting", type=click.Choice(poverty.WEIGHTINGS), default="person", show_default=True,
              help="Weighting of the decomposition.")
@click.option("--measure", type=click.Choice(poverty.MEASURES), default="income", show_default=True,
              help="Per-capita income, or consumption (needs a consumption_monthly column).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def poverty_command(households_csv: str, by: str | None, year: str, method: str, weighting: str, measure: str,
                    as_json: bool) -> None:
    """P0, P1, P2 both ways, the lines used with their sources, and the decomposition by a column."""
    src = Table(households_csv, required=("household_id", "income_monthly", "size"),
                one_of=[("line", "state,sector")])
    if by is not None and not src.has(by):
        raise InputError(f"{households_csv}: --by {by}: no such column (the header has {', '.join(src.columns)})")
    if measure == "consumption" and not src.has("consumption_monthly"):
        raise InputError(f"{households_csv}: --measure consumption needs a consumption_monthly column")
    lines = poverty.PovertyLines.shipped() if src.has("state", "sector") else None
    left_out = _leave_out_incomplete(src)
    households = _households(src, lines, year, method)
    if measure == "consumption":
        for number, row in src.rows:
            if not row.get("consumption_monthly"):
                raise src.error(number, "consumption_monthly", "empty (needed for --measure consumption)")
    result = poverty.fgt_table(households, measure)
    used = _lines_used(src, households)
    parts = [poverty.decompose(households, by, alpha, weighting, measure) for alpha in (0, 1, 2)] if by else []
    if as_json:
        emit({"file": households_csv, "measure": measure, "fgt": result, "lines": used,
              "n_incomplete_income": left_out,
              "decomposition": ({"by": by, "weighting": weighting, "alphas": {f"P{p.alpha}": p for p in parts}}
                                if by else None)})
        return
    out = [f"Poverty (FGT, {measure} per head against each household's own line; poor means y < z)", ""]
    out.append(table(["measure", "person-weighted", "exact", "household-weighted", "exact"],
                     [[f"P{a}", result.person[a], fmt_exact(result.person[a]), result.household[a],
                       fmt_exact(result.household[a])] for a in (0, 1, 2)]))
    out.append(f"households {result.n_households} ({result.n_poor_households} poor), persons {result.n_persons} "
               f"({result.n_poor_persons} poor)")
    if result.weighted_households != result.n_households:
        out.append(f"weighted: households {fmt(result.weighted_households, 2)}, "
                   f"persons {fmt(result.weighted_persons, 2)}")
    if result.n_negative_income:
        out.append(f"{plural(result.n_negative_income, 'household')} with negative income, bottom-coded at 0")
    out.append(f"left out: {plural(left_out, 'household')} with incomplete income (an amount not known or refused)")
    out += ["", "Lines used (Rs per person per month)"]
    for entry in used:
        out.append(f"- {entry['line']}; {plural(entry['households'], 'household')}")
        out.append(f"  source: {entry['source']}" + (f"; {entry['verification']}" if entry["verification"] else ""))
        if entry["note"]:
            out.append(f"  note: {entry['note']}")
    if parts:
        out += ["", f"Decomposition by {by} ({weighting}-weighted): share = N_g/N, "
                    "contribution = share x P_g / P"]
        rows = []
        for i, group in enumerate(parts[0].groups):
            cells: list[Any] = ["(missing)" if group.group is None else str(group.group), group.n_households,
                                group.n_persons, group.population_share]
            for part in parts:
                cells += [part.groups[i].p_alpha, part.groups[i].contribution]
            rows.append(cells)
        rows.append(["total", result.n_households, result.n_persons, Fraction(1)] +
                    [x for part in parts for x in (part.total, Fraction(1) if part.total else None)])
        out.append(table(["group", "households", "persons", "share", "P0", "contrib P0", "P1", "contrib P1",
                          "P2", "contrib P2"], rows))
    click.echo("\n".join(out))


# -- concordance ---------------------------------------------------------------------

@analyse.command("concordance", help="Community category against income poverty. FILE.csv: household_id,category,"
                                     "income_monthly,size,line (optional m, the community mean level).")
@click.argument("file_csv", metavar="FILE.csv", type=INPUT)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def concordance_command(file_csv: str, as_json: bool) -> None:
    """The 3x2 and 2x2 tables of category against poverty, kappa, error rates and Spearman's rho."""
    src = Table(file_csv, required=("household_id", "category", "income_monthly", "size", "line"))
    left_out = _leave_out_incomplete(src)
    households = _households(src, None, "", "")
    records = []
    for (number, row), h in zip(src.rows, households):
        level = src.level(number, row, "category")
        m = src.number(number, row, "m", minimum=1) if row.get("m") else level
        if m is not None and m > 3:
            raise src.error(number, "m", f"{row['m']!r} is above 3 (m is a mean level, 1 happy .. 3 sad)")
        records.append(concordance_mod.Record(h.id, level, h.is_poor(), m, h.per_capita()))
    result = concordance_mod.concordance(records)
    score = "m" if src.has("m") else "the category level (no m column)"
    if as_json:
        emit({"file": file_csv, "score": score, "concordance": result, "n_incomplete_income": left_out})
        return
    out = ["Community category against income poverty (poor means income per head < line)",
           f"left out: {plural(left_out, 'household')} with incomplete income (an amount not known or refused)", ""]
    out.append(table(["category", "poor", "not poor", "total"],
                     [[c, result.table[c]["poor"], result.table[c]["not_poor"],
                       result.table[c]["poor"] + result.table[c]["not_poor"]] for c in wellbeing.CATEGORIES]))
    out += ["", "Collapsed: sad against poor"]
    out.append(table(["", "poor", "not poor"], [["sad", result.sad_poor, result.sad_not_poor],
                                                ["not sad", result.not_sad_poor, result.not_sad_not_poor]]))
    out += ["", table(["statistic", "value", "exact"], [
        [name, value, fmt_exact(value)] for name, value in (
            ("n", result.n), ("p_o", result.p_o), ("p_e", result.p_e), ("kappa", result.kappa),
            ("sensitivity P(sad|poor)", result.sensitivity), ("specificity P(not sad|not poor)", result.specificity),
            ("inclusion error P(not poor|sad)", result.inclusion_error),
            ("exclusion error P(not sad|poor)", result.exclusion_error),
            ("spearman(score, income per head)", result.spearman))])]
    if result.n_excluded:
        out.append(f"{plural(result.n_excluded, 'household')} without a category left out")
    out.append(f"score: {score}; a negative rho means agreement (1 happy .. 3 sad against income). "
               "Low kappa is a finding, not a bug.")
    click.echo("\n".join(out))


# -- change --------------------------------------------------------------------------

def _categories(src: Table) -> dict[str, str | None]:
    src.unique("household_id")
    found = {}
    for number, row in src.rows:
        level = src.level(number, row, "category")
        found[row["household_id"]] = wellbeing.LEVELS[level] if level is not None else None
    return found


@analyse.command("change", help="Change between two rounds for the households in both. BASELINE.csv and "
                                "FOLLOWUP.csv: household_id,category and optionally income_monthly,size,line "
                                "(lines in constant prices).")
@click.argument("baseline_csv", metavar="BASELINE.csv", type=INPUT)
@click.argument("followup_csv", metavar="FOLLOWUP.csv", type=INPUT)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def change_command(baseline_csv: str, followup_csv: str, as_json: bool) -> None:
    """Transition matrix and share changes; with income columns also delta FGT, exits, entries and spells."""
    sources = [Table(p, required=("household_id", "category")) for p in (baseline_csv, followup_csv)]
    before, after = (_categories(s) for s in sources)
    moves = change_mod.transitions(before, after)
    income_columns = ("income_monthly", "size", "line")
    income = None
    skipped = [s.name for s in sources if not s.has(*income_columns)]
    left_out = [0, 0]
    if not skipped:
        left_out = [_leave_out_incomplete(s) for s in sources]   # the categories above used every row
        rounds = [_households(s, None, "", "") for s in sources]
        income = change_mod.poverty_change(*rounds)
        status = [{h.id: h.is_poor() for h in r} for r in rounds]
        spells = change_mod.spells(status)
    if as_json:
        emit({"baseline": baseline_csv, "followup": followup_csv, "categories": moves,
              "income": income, "spells": (dataclasses.replace(spells, by_household={}) if income else None),
              "income_skipped": skipped or None, "n_incomplete_income": left_out})
        return
    out = [f"Change in well-being category: {moves.n} households placed in both rounds "
           f"({moves.n_unmatched} placed in one round only, left out)", ""]
    out.append(table(["baseline \\ follow-up", *wellbeing.CATEGORIES, "total"],
                     [[a, *(moves.matrix[a][b] for b in wellbeing.CATEGORIES), sum(moves.matrix[a].values())]
                      for a in wellbeing.CATEGORIES]))
    out.append(f"improved {moves.improved}, worsened {moves.worsened}, unchanged {moves.unchanged}")
    out += ["", table(["category", "baseline share", "follow-up share", "change (pp)"],
                      [[c, moves.baseline.shares[c], moves.followup.shares[c], fmt(moves.change_pp[c], 2)]
                       for c in wellbeing.CATEGORIES])]
    if income is None:
        out += ["", f"Income side skipped: {', '.join(skipped)} lacks income_monthly,size,line"]
    else:
        out += ["", f"Income poverty over the {income.n} households in both rounds (lines in constant prices); "
                    f"left out for incomplete income: {left_out[0]} in the baseline, {left_out[1]} in the follow-up"]
        out.append(table(["measure", "baseline", "follow-up", "change", "baseline (hh)", "follow-up (hh)",
                          "change (hh)"],
                         [[f"P{a}", income.baseline.person[a], income.followup.person[a], income.delta_person[a],
                           income.baseline.household[a], income.followup.household[a], income.delta_household[a]]
                          for a in (0, 1, 2)]))
        out.append("person-weighted first, then household-weighted (hh)")
        out.append(f"exits from poverty {income.exits}, entries {income.entries}, stayed poor {income.stayed_poor}, "
                   f"never poor {income.never_poor}; exact McNemar p = {fmt(income.mcnemar_p)}")
        out.append(f"spells: chronic {spells.chronic}, transient {spells.transient}, never {spells.never}")
    click.echo("\n".join(out))
