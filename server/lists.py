"""Server-managed lists: the cluster, hamlet, household and node CSVs that forms choose from.

Phones receive them as form attachments (select_one_from_file) through the manifest. The
lists grow from submissions: a household added in the field by one informant group is on
the list the next group and the household income form download. Pure functions; the
storage of list items is the store's.

A served list is never without rows. JavaRosa takes a CSV that has only its header for a missing file (it loads a
placeholder) and Collect will not open a form whose list is missing, so a new project's phones could open neither
the ranking nor the income form: households.csv stays empty until the first ranking in a hamlet adds households.
A list with no items is therefore served with one reserved row (render_served): its name is RESERVED_NAME and
every other column holds RESERVED_VALUE, which has a space, and no id has one (read_csv refuses it), so no choice
filter (cluster=${cluster}, hamlet=${hamlet}, also while the filter's question is unanswered) and no membership
check matches it. A brand-new hamlet therefore shows 0 households, and the ranking form offers adding households
only. The reserved row is never stored: the server's own check of answers against the list refuses it, and
neither an import nor a submission can add an item of that name. The row goes once the list has an item.
"""

from __future__ import annotations

import csv
import io
import itertools
from importlib import resources
from typing import Callable, Iterable, Iterator, Mapping

from . import ranking

from .permissions import in_scope
from .spreadsheet import neutralise

# The columns each list carries, in CSV order; 'name' is the value a form stores.
LISTS: dict[str, list[str]] = {
    "clusters.csv": ["name", "label", "state", "district", "sector", "product"],
    "hamlets.csv": ["name", "label", "cluster", "sector", "bigha_factor"],
    "households.csv": ["name", "label", "hamlet", "cluster", "node", "card"],
    "nodes.csv": ["name", "label", "cluster"],
}


RESERVED_NAME = "_none"            # the one row of a list that has no items (see the module's note)
RESERVED_VALUE = "(none yet)"      # its label and every other column: the space keeps every filter from matching
# Columns an imported file may leave out (older files): the items get them empty.
OPTIONAL_COLUMNS: dict[str, set[str]] = {"hamlets.csv": {"bigha_factor"}}
# A hamlet's bigha in acres (the household income form converts bigha and biswa with it); empty when the hamlet does
# not use bigha. Bigha sizes run from about 0.2 acre (Himachal) to about 1 acre (parts of the east): 0.05-5 catches
# a size typed in another unit.
BIGHA_ACRES = (0.05, 5.0)


def _check_cell(list_name: str, column: str, value: str) -> str | None:
    """Why a cell is not acceptable, or None."""
    if list_name == "hamlets.csv" and column == "bigha_factor" and value:
        try:
            acres = float(value)
        except ValueError:
            return f"{value!r} is not a number (acres per bigha, or empty)"
        if not BIGHA_ACRES[0] <= acres <= BIGHA_ACRES[1]:
            return f"{value} acres per bigha is outside {BIGHA_ACRES[0]}-{BIGHA_ACRES[1]:g}"
    return None


class ListFileError(ValueError):
    """A CSV list that cannot be imported; the message names the row and column."""


def render_csv(columns: list[str], items: Iterator[tuple[str, Mapping]],
               cell: Callable[[str], str] | None = None) -> bytes:
    """The bytes served to phones: UTF-8, a header row, one row per item, '\\n' line ends. `cell` changes each
    value on its way out: the copy people download passes spreadsheet.neutralise (see for_people)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for name, data in items:
        row = [name if col == "name" else _cell(data.get(col)) for col in columns]
        writer.writerow(row if cell is None else [cell(value) for value in row])
    return out.getvalue().encode("utf-8")


def render_served(columns: list[str], items: Iterator[tuple[str, Mapping]]) -> bytes:
    """The CSV phones receive: the items, or the reserved row when there are none (never a header alone)."""
    items = iter(items)
    first = next(items, None)
    if first is None:
        return render_csv(columns, iter([(RESERVED_NAME, dict.fromkeys(columns, RESERVED_VALUE))]))
    return render_csv(columns, itertools.chain([first], items))


def reserved(name: str) -> bool:
    return name == RESERVED_NAME


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a list item (the value a form stores), or None: the one rule for imported lists and
    for the households and nodes that submissions add."""
    if not name:
        return "empty"
    if any(ch.isspace() for ch in name):
        # Forms join ids with spaces (selected-at over the hamlet's households); a space would split one.
        return f"{name!r} contains a space"
    if reserved(name):
        return f"{name!r} is reserved (the row served while a list is empty)"
    return None


def for_people(columns: list[str], items: Iterator[tuple[str, Mapping]]) -> bytes:
    """The list as a manager downloads it to open in a spreadsheet: text that a spreadsheet would run as a formula
    gets a leading single quote, as the exports do (spreadsheet.neutralise). Phones get render_csv's exact values, and
    read_csv takes the quote off again, so a list downloaded, edited and imported keeps its values."""
    return render_csv(columns, items, neutralise)


def _restored(value: str) -> str:
    """A value as it was before for_people quoted it: the quote is dropped only where neutralise adds one."""
    return value[1:] if value[:1] == "'" and neutralise(value[1:]) == value else value


def _cell(value: object) -> str:
    return "" if value is None else str(value)


def read_csv(content: bytes, list_name: str) -> tuple[list[str], list[tuple[str, dict]]]:
    """Parse an uploaded list; 'name' must be present and unique, and known lists keep their columns."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ListFileError(f"{list_name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in (reader.fieldnames or [])]
    if "name" not in columns:
        raise ListFileError(f"{list_name}: the header row has no 'name' column")
    required = LISTS.get(list_name, ["name"])
    missing = [c for c in required if c not in columns and c not in OPTIONAL_COLUMNS.get(list_name, set())]
    if missing:
        raise ListFileError(f"{list_name}: missing column(s) {', '.join(missing)}")
    items: list[tuple[str, dict]] = []
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip(): _restored((v or "").strip()) for k, v in row.items() if k is not None}
        name = row.pop("name", "")
        problem = name_problem(name)
        if problem:
            raise ListFileError(f"{list_name}: row {line}, column name: {problem}")
        if name in seen:
            raise ListFileError(f"{list_name}: row {line}, column name: {name!r} appears twice")
        for column, value in row.items():
            problem = _check_cell(list_name, column, value)
            if problem:
                raise ListFileError(f"{list_name}: row {line}, column {column}: {problem}")
        seen.add(name)
        items.append((name, row))
    ordered = required + [c for c in columns if c not in required]
    return ordered, items


def seed_clusters() -> list[tuple[str, dict]]:
    """The cluster registry shipped with the product (docs/method.md 9), with sources."""
    text = resources.files("server").joinpath("data/clusters.csv").read_text(encoding="utf-8")
    return [(row.pop("name"), row) for row in csv.DictReader(io.StringIO(text))]


def item_name_problems(form_id: str, record: Mapping) -> dict[str, list[str]]:
    """The submission's errors for list items it would add under a name no list may hold (a card number typed with
    a space, the reserved name): the submission is refused, as an import with such a row is."""
    problems: dict[str, list[str]] = {}
    for list_name, items in _added(form_id, record).items():
        for name, _data in items:
            problem = name_problem(name)
            if problem:
                problems.setdefault(list_name, []).append(f"a new item of {list_name}: {problem}")
    return problems


def items_from_submission(form_id: str, record: Mapping) -> dict[str, list[tuple[str, dict]]]:
    """List items a submission adds: households listed in the field (with their card or map number), and new
    poverty nodes. A household already on the list keeps its item (ranking.reconcile shows what disagrees).
    Never an item that bears the reserved name (ingest refuses such a submission: item_name_problems)."""
    kept = {list_name: [item for item in items if not reserved(item[0])]
            for list_name, items in _added(form_id, record).items()}
    return {list_name: items for list_name, items in kept.items() if items}


def _added(form_id: str, record: Mapping) -> dict[str, list[tuple[str, dict]]]:
    found: dict[str, list[tuple[str, dict]]] = {}
    for hh in ranking.field_households(form_id, record):
        node = (record.get("node") or "") if form_id == "household_income" else ""
        found.setdefault("households.csv", []).append(
            (hh["hh_id"], {"label": _household_label(hh["head"], hh["hh_id"]), "hamlet": hh["hamlet"],
                           "cluster": hh["cluster"], "node": node, "card": hh["card"]}))
    if form_id == "poverty_nodes" and record.get("node_is_new") == "yes" and record.get("node_id"):
        found.setdefault("nodes.csv", []).append(
            (record["node_id"], {"label": record.get("local_name") or record["node_id"],
                                 "cluster": record.get("cluster")}))
    return found


def in_clusters(list_name: str, items: Iterable[tuple[str, Mapping]],
                allowed: frozenset[str] | None) -> Iterator[tuple[str, Mapping]]:
    """The items of a list that belong to the `allowed` clusters (None: all): clusters.csv's by their name,
    every other list's by its cluster column. What an NDA's phone receives."""
    for name, data in items:
        if in_scope(allowed, name if list_name == "clusters.csv" else (data.get("cluster") or None)):
            yield name, data


def _household_label(head: str | None, hh_id: str) -> str:
    return f"{head} ({hh_id})" if head else hh_id


def managed(names: Iterable[str]) -> list[str]:
    return [n for n in names if n in LISTS]
