"""Realistic sample submissions for the three PPA forms, written the way JavaRosa serialises them.

Used by the tests, the load run and the benchmark. The XML follows the form's own structure
(groups, repeats, meta) so that a sample is exactly what Collect would send; answers that a
caller does not give are filled with plausible values of the right type.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping
from xml.sax.saxutils import escape

from server.xforms import FormDef

_NS = ('xmlns:jr="http://openrosa.org/javarosa" xmlns:orx="http://openrosa.org/xforms" '
       'xmlns:odk="http://www.opendatakit.org/xforms" xmlns:h="http://www.w3.org/1999/xhtml" '
       'xmlns:ev="http://www.w3.org/2001/xml-events" xmlns:xsd="http://www.w3.org/2001/XMLSchema"')
ListLookup = Callable[[str, str], list[str]]
CONTENT_TYPES = {"csv": "text/comma-separated-values", "jpg": "image/jpeg", "png": "image/png",
                 "amr": "audio/amr", "enc": "application/octet-stream", "xml": "text/xml"}


def new_instance_id() -> str:
    return f"uuid:{uuid.uuid4()}"


def instance_xml(form: FormDef, answers: Mapping[str, Any], instance_id: str | None = None,
                 deprecated_id: str | None = None) -> bytes:
    """Serialise answers (keys = field keys, repeats = lists of dicts) in the form's element order."""
    tree: dict = {}
    for f in form.fields:
        node = tree
        for part in f.path.split("/")[2:]:
            node = node.setdefault(part, {})
    root_path = "/" + form.root_name
    repeats = set(form.repeats)
    meta = {"instanceID": instance_id or new_instance_id()}

    def emit(node: dict, path: str, record: Mapping[str, Any]) -> str:
        out = []
        for name, children in node.items():
            child_path = f"{path}/{name}"
            if child_path in repeats:
                for row in record.get(name) or []:
                    out.append(f"<{name}>{emit(children, child_path, row)}</{name}>")
            elif children:
                inner = emit(children, child_path, record)
                if child_path == f"{root_path}/meta" and deprecated_id:
                    inner += f"<deprecatedID>{escape(deprecated_id)}</deprecatedID>"
                out.append(f"<{name}>{inner}</{name}>")
            else:
                field = form.by_path[child_path]
                value = meta.get(name) if child_path.startswith(f"{root_path}/meta/") and name in meta \
                    else record.get(field.key)
                out.append(f"<{name}/>" if value in (None, "") else f"<{name}>{escape(_text(value))}</{name}>")
        return "".join(out)

    version = f' version="{form.version}"' if form.version else ""
    body = emit(tree, root_path, answers)
    return (f"<?xml version='1.0' encoding='UTF-8' ?><{form.root_name} id=\"{form.form_id}\"{version} {_NS}>"
            f"{body}</{form.root_name}>").encode("utf-8")


def _text(value: Any) -> str:
    if isinstance(value, float):
        return repr(round(value, 2))
    if isinstance(value, (list, tuple)):
        return " ".join(map(str, value))
    return str(value)


def fill(form: FormDef, answers: dict, rng: random.Random, lists: ListLookup | None = None) -> dict:
    """Give every unanswered required question (top level and in each repeat row) a plausible value."""

    def fill_scope(scope: str | None, record: dict) -> None:
        for f in form.fields:
            if f.repeat != scope or f.key in record or "/meta/" in f.path:
                continue
            if f.required and not f.conditional and not f.calculate:
                record[f.key] = _plausible(f, rng, lists)
        for repeat in form.repeats:
            parent = next((r for r in reversed(form.repeats) if repeat.startswith(r + "/")), None)
            if parent == scope:
                for row in record.get(form.repeat_key(repeat)) or []:
                    fill_scope(repeat, row)

    fill_scope(None, answers)
    return answers


def _plausible(f, rng: random.Random, lists: ListLookup | None) -> Any:
    if f.choices:
        return rng.choice(sorted(f.choices))
    if f.choice_list and lists:
        values = lists(f.choice_list, f.choice_column)
        return rng.choice(values) if values else ""
    return {"int": 1, "integer": 1, "decimal": 1.0, "date": "2026-11-20", "dateTime": "2026-11-20T10:00:00.000+05:30",
            "time": "10:00:00.000+05:30", "geopoint": "24.7443 78.1382 412.0 4.5"}.get(f.type, "x")


# --------------------------------------------------------------------------- the three PPA forms

def _interview(rng: random.Random, minutes: tuple[int, int]) -> dict:
    start = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    start += dt.timedelta(minutes=rng.randint(0, 600))
    end = start + dt.timedelta(minutes=rng.randint(*minutes), seconds=rng.randint(0, 59))
    stamp = "%Y-%m-%dT%H:%M:%S.000+05:30"
    return {"start": start.strftime(stamp), "end": end.strftime(stamp), "today": start.date().isoformat(),
            "deviceid": "collect:Xk3v9QpLm2Zt8RwA"}


def _gps(rng: random.Random) -> str:
    return f"{24.74 + rng.uniform(-0.02, 0.02):.6f} {78.13 + rng.uniform(-0.02, 0.02):.6f} 412.0 4.5"


def household_income(rng: random.Random, hh_id: str, cluster: str = "chanderi", hamlet: str = "chanderi-w03",
                     members: int = 5, on_list: bool = True, round_no: int = 1, head: str | None = None) -> dict:
    """A household of `members` with wage work, a loom enterprise, a loan; incomes in Rs."""
    roster = []
    for i in range(members):
        age = rng.randint(30, 60) if i == 0 else (rng.randint(25, 55) if i == 1 else rng.randint(1, 25))
        roster.append({"m_name": head if i == 0 and head else f"Member {i + 1}", "m_relation": "1" if i == 0 else
                       ("2" if i == 1 else "3"), "m_sex": "1" if i % 2 == 0 else "2", "m_age": age,
                       "m_days_30": rng.randint(0, 26), "m_months_12": rng.randint(0, 12)})
    days, wage, peak, lean = rng.randint(15, 26), rng.choice([200, 250, 300, 350]), rng.randint(5, 8), 3
    w_annual = days * wage * peak + (days // 2) * wage * lean
    sales, costs, months = rng.randint(4000, 15000), rng.randint(1000, 5000), rng.randint(8, 12)
    ent_annual = (sales - costs) * months
    transfers = rng.choice([0, 0, 6000, 12000])
    income_annual = w_annual + ent_annual + transfers
    cons30 = rng.randint(3000, 9000)
    cons365 = rng.randint(3000, 20000)
    answers = {
        **_interview(rng, (18, 35)), "cluster": cluster, "hamlet": hamlet, "sector": "urban",
        "round": round_no, "hh_on_list": "yes" if on_list else "no", "enumerator": "Rekha S.",
        "interview_date": "2026-11-20", "consent": "yes", "respondent_name": head or "Respondent", "gps": _gps(rng),
        "n_members": members, "member": roster, "hh_size": members, "n_wage_jobs": 1, "n_enterprises": 1,
        "n_loans": 1, "religion": rng.choice(["1", "1", "2"]),
        "social_group": rng.choice(["1", "2", "3", "9"]), "land_unit": "acre_guntha", "land_owned_major": 0,
        "land_owned_minor": 0.0, "land_operated_major": 0, "land_operated_minor": 0.0, "land_irrigated_major": 0,
        "land_irrigated_minor": 0.0,
        "wage": [{"w_member_no": "1", "w_type": "nonagri_wage", "w_basis": "daily", "w_inside": "no",
                  "w_pay_status": "reported", "w_peak_months": peak, "w_lean_months": lean, "w_peak_days": days,
                  "w_peak_wage": wage, "w_lean_days": days // 2, "w_lean_wage": wage, "w_annual": w_annual}],
        "enterprise": [{"ent_activity": "weaving", "ent_status": "reported", "ent_sales_month": sales,
                        "ent_costs_month": costs, "ent_months": months, "ent_annual": ent_annual}],
        "tr_pension": transfers, "income_annual": income_annual, "income_monthly": round(income_annual / 12, 2),
        "cons_cereal_status": "reported", "cons_cereal_bought": cons30, "cons_cereal_other": 0,
        "cons_365_status": "reported", "consumption_monthly": round(cons30 + cons365 / 12, 2), "has_loans": "yes",
        "loan": [{"loan_source": rng.choice(["moneylender", "master_weaver_trader", "shg_mfi", "bank"]),
                  "loan_outstanding": rng.randint(5000, 60000), "loan_interest_pct_month": rng.choice([1, 2, 3, 5]),
                  "loan_tied_sale": rng.choice(["yes", "no"])}],
        "saved_last_month": rng.choice(["yes", "no"]), "looms_pit": rng.randint(0, 2), "assets": "mobile",
        "shocks": "none",
    }
    if on_list:
        answers.update(household=hh_id, hh_id=hh_id)
    else:
        answers.update(new_hh_head=head or "New household head", new_hh_id=hh_id, hh_id=hh_id)
    return answers


def well_being_ranking(rng: random.Random, households: list[str], group: str = "A", cluster: str = "chanderi",
                       hamlet: str = "chanderi-w03", round_no: int = 1, new: int = 0,
                       levels: Mapping[str, int] | None = None, first_card: int = 900) -> dict:
    """One informant group's session: three piles (happy, average, sad) holding the listed households.

    levels: household -> 1/2/3 to fix ratings (1 = happy), 0 for don't know; others are drawn at random, a few as
    don't know.
    The answers fit both shapes of the form: each pile's households (`pile_hh`, pile-by-pile entry) and one
    `rating` per household (earlier versions); serialising keeps only the fields the form version has.
    New households get card numbers from first_card on, so their ids are <hamlet>-m<card>.
    """
    piles = [{"pile_no": 1, "pile_label": "khush (well off)", "pile_criteria": "own looms, sell directly",
              "pile_level": "happy"},
             {"pile_no": 2, "pile_label": "theek-thaak (getting by)", "pile_criteria": "regular work",
              "pile_level": "average"},
             {"pile_no": 3, "pile_label": "dukhi (struggling)", "pile_criteria": "cannot save for the next day",
              "pile_level": "sad"}]
    ratings, unknown = [], []
    for hh in households:
        level = (levels or {}).get(hh)
        level = rng.choices([1, 2, 3, 0], weights=[25, 40, 30, 5])[0] if level is None else level
        ratings.append({"hh_id": hh, "rating_pile": str(level) if level else "dk"})
        if level:
            piles[level - 1].setdefault("pile_hh", []).append(hh)
        else:
            unknown.append(hh)
    added = [{"new_hh_card": str(first_card + i), "new_hh_head": f"New head {i + 1}", "new_hh_sex": "female",
              "new_hh_pile": str(rng.randint(1, 3)), "new_hh_id": f"{hamlet}-m{first_card + i}"} for i in range(new)]
    men, women = rng.randint(2, 8), rng.randint(2, 8)
    return {**_interview(rng, (60, 150)), "cluster": cluster, "hamlet": hamlet, "sector": "urban",
            "round": round_no, "exercise_date": "2026-11-20", "facilitator": "Anil K.", "gps": _gps(rng),
            "session_type": "group", "group_id": group, "group_label": f"Group {group}", "n_men": men,
            "n_women": women,
            "group_size": men + women, "age_min": 22, "age_max": 65, "self_happy": 1, "self_average": 2,
            "self_sad": 1, "group_social": "sc obc muslim", "list_confirmed": "yes", "n_piles": 3,
            "pile": piles, "n_listed_hh": len(households), "rating": ratings, "hh_unknown": unknown,
            "sort_check": "OK", "n_new_households": len(added), "new_household": added}


def poverty_node(rng: random.Random, cluster: str = "chanderi", code: str = "contract_weavers", round_no: int = 1,
                 existing: str | None = None) -> dict:
    workers = rng.randint(200, 2000)
    women = int(workers * rng.uniform(0.2, 0.9))
    answers = {
        **_interview(rng, (45, 120)), "cluster": cluster, "round": round_no, "gps": _gps(rng),
        "local_name": "kaarigar (contract weaver)", "value_chain_position": "contract_worker",
        "est_households": workers // 2, "est_workers": workers, "size_source": "ppa_estimate",
        "women_workers": women, "men_workers": workers - women, "sg_st": 10, "sg_sc": 120, "sg_obc": 200,
        "sg_muslim": 150, "sg_other": 20,   # version 2026112201 (counts); the shares below from 2026113001 on
        "size_coverage": "whole_cluster", "women_pct": round(100 * women / workers), "sg_st_pct": 2, "sg_sc_pct": 24,
        "sg_obc_pct": 40, "rel_hindu_pct": 70, "rel_muslim_pct": 30, "piece_rate": 450.0, "piece_rate_unit": "sari",
        "piece_rate_period": "year", "raw_material_by_buyer": 80,
        "n_problems": 2, "n_actions": 1,
        "problem": [{"problem_dimension": "market_access", "problem_description": "sells only through master weavers",
                     "problem_severity": "3", "problem_months": "jun jul aug"},
                    {"problem_dimension": "credit", "problem_description": "advances tie the sale of saris",
                     "problem_severity": "2", "problem_months": ""}],
        "share_via_middlemen": 85, "advance_tied": "yes", "pct_bank_account": 40, "pct_shg_members": 15,
        "main_lender": "master_weaver_trader", "n_shgs": 4, "n_shg_members": 48, "has_federation": "no",
        "capacity_score": "2",
        "action": [{"action_text": "form weaver SHGs and link them to a bank", "action_agency": "BVS",
                    "action_timeline": "6 months", "action_indicator": "SHGs bank-linked", "action_target": "10"}],
        "session_date": "2026-11-20", "facilitators": "Anil K.", "participants_men": 9, "participants_women": 6,
    }
    if existing:
        answers.update(node_is_new="no", node_existing=existing, node_id=existing)
    else:
        answers.update(node_is_new="yes", node_code=code, node_id=f"{cluster}-{code}")
    return answers


# --------------------------------------------------------------------------- the multipart body Collect sends

@dataclass
class Part:
    name: str
    content: bytes
    filename: str | None = None
    content_type: str | None = None


def multipart(parts: Iterable[Part], okhttp: int = 5, boundary: str | None = None) -> tuple[bytes, str]:
    """(body, content-type header) exactly as OkHttp's MultipartBody writes them (docs/protocol.md 3.3).

    OkHttp 5 (Collect >= v2025.4) writes no Content-Length on each part; OkHttp 4 did.
    """
    boundary = boundary or str(uuid.uuid4())
    out = bytearray()
    for part in parts:
        out += f"--{boundary}\r\n".encode()
        disposition = f'form-data; name="{part.name}"'
        if part.filename is not None:
            disposition += f'; filename="{part.filename}"'
        out += b"Content-Disposition: " + disposition.encode("utf-8") + b"\r\n"
        if part.content_type:
            out += f"Content-Type: {part.content_type}\r\n".encode()
        if okhttp == 4:
            out += f"Content-Length: {len(part.content)}\r\n".encode()
        out += b"\r\n" + part.content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def submission_parts(xml: bytes, files: dict[str, bytes] | None = None, incomplete: bool = False,
                     xml_name: str = "PPA Household_2026-11-22_10-15-00.xml") -> list[Part]:
    parts = [Part("xml_submission_file", xml, xml_name, "text/xml")]
    for name, content in (files or {}).items():
        parts.append(Part(name, content, name, CONTENT_TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream")))
    if incomplete:
        parts.append(Part("*isIncomplete*", b"yes"))
    return parts
