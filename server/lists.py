"""Server-managed lists: the cluster, hamlet, household and node CSVs that forms choose from.

Phones receive them as form attachments (select_one_from_file) through the manifest. The
lists grow from submissions: a household added in the field by one informant group is on
the list the next group and the household income form download. Pure functions; the
storage of list items is the store's.
"""

from __future__ import annotations

import csv
import io
from importlib import resources
from typing import Iterable, Iterator, Mapping

# The columns each list carries, in CSV order; 'name' is the value a form stores.
LISTS: dict[str, list[str]] = {
    "clusters.csv": ["name", "label", "state", "district", "sector", "product"],
    "hamlets.csv": ["name", "label", "cluster", "sector", "bigha_factor"],
    "households.csv": ["name", "label", "hamlet", "cluster", "node"],
    "nodes.csv": ["name", "label", "cluster"],
}


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


def render_csv(columns: list[str], items: Iterator[tuple[str, Mapping]]) -> bytes:
    """The bytes served to phones: UTF-8, a header row, one row per item, '\\n' line ends."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for name, data in items:
        writer.writerow([name if col == "name" else _cell(data.get(col)) for col in columns])
    return out.getvalue().encode("utf-8")


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
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        name = row.pop("name", "")
        if not name:
            raise ListFileError(f"{list_name}: row {line}, column name: empty")
        if any(ch.isspace() for ch in name):
            # Forms join ids with spaces (selected-at over the hamlet's households); a space would split one.
            raise ListFileError(f"{list_name}: row {line}, column name: {name!r} contains a space")
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
    """The cluster registry shipped with the product (DOMAIN.md section 7), with sources."""
    text = resources.files("server").joinpath("data/clusters.csv").read_text(encoding="utf-8")
    return [(row.pop("name"), row) for row in csv.DictReader(io.StringIO(text))]


def items_from_submission(form_id: str, record: Mapping) -> dict[str, list[tuple[str, dict]]]:
    """List items a submission adds: households listed in the field, and new poverty nodes."""
    found: dict[str, list[tuple[str, dict]]] = {}
    cluster, hamlet = record.get("cluster"), record.get("hamlet")
    if form_id == "well_being_ranking":
        for row in record.get("new_household") or []:
            if row.get("new_hh_id"):
                found.setdefault("households.csv", []).append(
                    (row["new_hh_id"], {"label": _household_label(row.get("new_hh_head"), row["new_hh_id"]),
                                        "hamlet": hamlet, "cluster": cluster, "node": ""}))
    elif form_id == "household_income":
        if record.get("hh_on_list") == "no" and record.get("new_hh_id"):
            found.setdefault("households.csv", []).append(
                (record["new_hh_id"], {"label": _household_label(record.get("new_hh_head"), record["new_hh_id"]),
                                       "hamlet": hamlet, "cluster": cluster, "node": record.get("node") or ""}))
    elif form_id == "poverty_nodes":
        if record.get("node_is_new") == "yes" and record.get("node_id"):
            found.setdefault("nodes.csv", []).append(
                (record["node_id"], {"label": record.get("local_name") or record["node_id"], "cluster": cluster}))
    return found


def _household_label(head: str | None, hh_id: str) -> str:
    return f"{head} ({hh_id})" if head else hh_id


def managed(names: Iterable[str]) -> list[str]:
    return [n for n in names if n in LISTS]
