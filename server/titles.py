"""What a submission is about, in words: its title in the submissions list and on its page. Pure: from the columns
of the form's typed row (store.submission_subjects) and the project's labels (reports.names), never from the phone's
instanceName alone, which for an interview reads like "chanderi-w03-017  r1" when the head's name was not asked.

- household income:   "<household head> · <hamlet>, round <n>"
- well-being ranking: "<informant group> · <hamlet>, round <n>" ("Validation meeting" for a meeting)
- poverty node:       "<node> · <cluster>, round <n>"
Other forms keep their instanceName, else their instanceID.
"""

from __future__ import annotations

from typing import Any, Mapping

SUBJECT_COLUMNS = {
    "household_income": ("hh_id", "hh_head_name", "new_hh_head", "respondent_name", "hh_list_label"),
    "well_being_ranking": ("session_type", "group_id", "group_label"),
    "poverty_nodes": ("node_id", "local_name"),
}


def title(sub: Mapping[str, Any], subject: Mapping[str, Any] | None, names: Mapping[str, Mapping[str, str]]) -> str:
    """sub: a submissions row (xml_form_id, cluster, hamlet, round, instance_name, instance_id)."""
    form, row = sub["xml_form_id"], subject or {}
    place = _place(sub, names, "clusters" if form == "poverty_nodes" else "hamlets")
    if form == "household_income":
        who = _first(row, "hh_head_name", "new_hh_head", "respondent_name", "hh_list_label", "hh_id")
    elif form == "well_being_ranking":
        who = "Validation meeting" if row.get("session_type") == "validation" else (
            _first(row, "group_label") or (f"Group {row['group_id']}" if row.get("group_id") else None))
    elif form == "poverty_nodes":
        node = row.get("node_id")
        who = _first(row, "local_name") or (names.get("nodes", {}).get(node) if node else None) or node
    else:
        return sub.get("instance_name") or sub["instance_id"]
    parts = [p for p in (who, place) if p]
    return " · ".join(parts) or sub.get("instance_name") or sub["instance_id"]


def _first(row: Mapping[str, Any], *columns: str) -> str | None:
    return next((str(row[c]).strip() for c in columns if row.get(c) not in (None, "") and str(row[c]).strip()), None)


def _place(sub: Mapping[str, Any], names: Mapping[str, Mapping[str, str]], kind: str) -> str | None:
    code = sub.get("cluster" if kind == "clusters" else "hamlet")
    where = (names.get(kind, {}).get(code) or code) if code else None
    if sub.get("round") is None:
        return where
    return f"{where}, round {sub['round']}" if where else f"round {sub['round']}"
