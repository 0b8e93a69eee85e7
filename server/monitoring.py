"""Enumerator monitoring (high-frequency checks): the checks survey teams run every evening, built in.

Each submission's monitoring facts (who sent it, the interview's day and length, its "don't know" and refused
answers, its quality flags, income and consumption per head, where it was made) are computed once, at ingest, in
the submission's transaction (`refresh`), and kept in one row per submission. The page and the CSV aggregate those
rows per enumerator and per day (`summary`); the checks that compare a submission with others (households
interviewed twice, outliers against the cluster, points far from their hamlet) are worked out from the same rows
when the page is read, so a changed threshold applies at once. Definitions: docs/monitoring.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import statistics
from dataclasses import asdict, dataclass, fields
from typing import Any, Iterable, Mapping

from . import errors, ranking
from .aggregates import income_fact
from .quality import MIN_MINUTES, NODE_MAY_BE_UNKNOWN, UNKNOWN_STATUSES, interview_minutes, number
from .storage import Store

MAD_SCALE = 1.4826       # makes the median absolute deviation comparable with a standard deviation (normal data)
MIN_REFERENCE = 5        # fewer households in a cluster and round, or points in a hamlet: no outlier is judged
AUDIT_EVENTS = ("question", "group questions")
CHECKS = ("short", "unknown", "flagged", "duplicate", "income_outlier", "consumption_outlier", "gps_far")
CHECK_LABELS = {"short": "too short", "unknown": "with don't know or refused answers", "flagged": "with quality flags",
                "duplicate": "households interviewed twice", "income_outlier": "income outliers",
                "consumption_outlier": "consumption outliers", "gps_far": "far from their hamlet"}


@dataclass(frozen=True)
class Thresholds:
    """The project's monitoring thresholds (project settings `monitor_*`; an administrator or manager edits them on
    the monitoring page)."""

    short_minutes: float = float(MIN_MINUTES["household_income"])   # too short under this (the quality flag's floor)
    outlier_k: float = 3.0        # an amount further than k scaled MADs from its cluster's median is an outlier
    gps_far_m: float = 500.0      # a point further than this from its hamlet's median point is far
    unknown_share: float = 0.2    # an enumerator-day with a larger share of don't know + refused stands out

    @classmethod
    def of(cls, store: Store, project_id: int) -> "Thresholds":
        stored = store.project_settings(project_id)
        return cls(**{f.name: float(stored.get(f"monitor_{f.name}", f.default)) for f in fields(cls)})

    @classmethod
    def parse(cls, form: Mapping[str, str]) -> "Thresholds":
        """From the settings form; a Problem (400) naming the value that cannot be used."""
        limits = {"short_minutes": (0, 600), "outlier_k": (0.5, 20), "gps_far_m": (10, 100_000),
                  "unknown_share": (0, 1)}
        values = {}
        for name, (low, high) in limits.items():
            raw = (form.get(name) or "").strip()
            value = number(raw)
            if value is None or not math.isfinite(value) or not low <= value <= high:
                raise errors.bad_request(f"{name} must be a number from {low} to {high}, not {raw!r}")
            values[name] = value
        return cls(**values)

    def as_settings(self) -> dict[str, float]:
        return {f"monitor_{k}": v for k, v in asdict(self).items()}


# --------------------------------------------------------------------------- facts (pure)

def enumerator_key(device_id: int | None, user_id: int | None) -> str:
    """Who sent a submission: the device (token in the URL) or the named user (Digest, Basic)."""
    if device_id is not None:
        return f"device:{device_id}"
    return f"user:{user_id}" if user_id is not None else "unknown"


def audit_seconds(content: bytes) -> float | None:
    """The time spent on questions in a Collect audit log (audit.csv): the sum of end - start over question and
    question-group events, in seconds; None when the log holds no such event."""
    try:
        rows = csv.DictReader(io.StringIO(content.decode("utf-8-sig")))
        total, seen = 0.0, False
        for row in rows:
            if (row.get("event") or "").strip() not in AUDIT_EVENTS:
                continue
            start, end = number(row.get("start")), number(row.get("end"))
            if start is None or end is None or end < start:
                continue
            total += (end - start) / 1000
            seen = True
    except (UnicodeDecodeError, csv.Error):
        return None
    return total if seen else None


def unknown_answers(form_id: str, record: Mapping[str, Any]) -> tuple[int, int, int]:
    """(answers that may be "don't know", those that are, those refused) in one submission. Household income: the
    amount statuses (`*_status`: reported, estimated, dk, refused). Ranking: the households the group sorted, "don't
    know" being those it could not place. Poverty nodes: the answers a group may leave blank as not known."""
    if form_id == "household_income":
        statuses = list(_statuses(record))
        return (len(statuses), sum(s == UNKNOWN_STATUSES[0] for s in statuses),
                sum(s == UNKNOWN_STATUSES[1] for s in statuses))
    if form_id == "well_being_ranking":
        piles = [pile for _, pile in ranking.placements(record)]
        return len(piles), sum(p in (None, ranking.DONT_KNOW) for p in piles), 0
    if form_id == "poverty_nodes" and "size_coverage" in record:   # earlier versions required every answer
        return len(NODE_MAY_BE_UNKNOWN), sum(record.get(n) is None for n in NODE_MAY_BE_UNKNOWN), 0
    return 0, 0, 0


def _statuses(record: Mapping[str, Any]) -> Iterable[str]:
    for key, value in record.items():
        if isinstance(value, list):
            for row in value:
                if isinstance(row, Mapping):
                    yield from _statuses(row)
        elif key.endswith("_status") and isinstance(value, str) and value:
            yield value


def _point(value: Any) -> tuple[float | None, float | None]:
    parts = str(value or "").split()
    if len(parts) < 2:
        return None, None
    lat, lon = number(parts[0]), number(parts[1])
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    return lat, lon


def fact(form_id: str, record: Mapping[str, Any] | None, enumerator: str, received_at: str, n_flags: int,
         audit: bytes | None = None) -> dict:
    """A submission's monitoring facts. The day is the interview's (its `start`, as the phone recorded it), else
    the day it arrived. The length is the audit log's question time where there is one, else end - start."""
    record = record or {}
    start = str(record.get("start") or "")
    day = start[:10] if _is_day(start[:10]) else received_at[:10]
    seconds, source = (audit_seconds(audit), "audit") if audit else (None, None)
    if seconds is None:
        minutes = interview_minutes(record)
        seconds, source = (minutes * 60, "start_end") if minutes is not None and minutes >= 0 else (None, None)
    asked, dk, refused = unknown_answers(form_id, record)
    income = income_fact(record) if form_id == "household_income" and record else None
    lat, lon = _point(record.get("gps"))
    return {"form_id": form_id, "enumerator": enumerator, "day": day, "cluster": record.get("cluster"),
            "hamlet": record.get("hamlet"), "round": _whole(record.get("round")),
            "hh_id": record.get("hh_id") if form_id == "household_income" else None,
            "duration_s": seconds, "duration_source": source, "n_asked": asked, "n_dk": dk, "n_refused": refused,
            "n_flags": n_flags,
            "income_pc": _per_head(income, "income_monthly"),
            "consumption_pc": _per_head(income, "consumption_monthly"),
            "lat": lat, "lon": lon}


def _is_day(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
        return True
    except ValueError:
        return False


def _whole(value: Any) -> int | None:
    n = number(value)
    return int(n) if n is not None else None


def _per_head(income: Mapping[str, Any] | None, key: str) -> float | None:
    if income is None or income.get(key) is None or not income.get("size"):
        return None
    if key == "income_monthly" and not income.get("income_complete"):
        return None   # an amount not known is never counted as zero
    return income[key] / income["size"]


# --------------------------------------------------------------------------- upkeep (inside the caller's transaction)

def refresh(store: Store, project_id: int, form_id: str, submission_id: int, def_id: int,
            record: Mapping[str, Any] | None, device_id: int | None, user_id: int | None, received_at: str | None,
            n_flags: int, audit_expected: bool = True) -> None:
    """Write a submission's facts (a new submission, or an edit replacing its earlier version); received_at None:
    now. audit_expected False: the submission names no audit log, so none is looked for."""
    received_at = received_at or dt.datetime.now(dt.timezone.utc).isoformat()
    audit = store.client_audit(def_id) if audit_expected else None
    store.replace_monitor_fact(project_id, submission_id, fact(
        form_id, record, enumerator_key(device_id, user_id), received_at, n_flags, audit))


def audit_arrived(store: Store, submission_id: int, def_id: int) -> None:
    """An upload's later part may bring the audit log: the length is then the audit's."""
    current = store.monitor_fact(submission_id)
    if current is None or current["duration_source"] == "audit":
        return
    content = store.client_audit(def_id)
    seconds = audit_seconds(content) if content else None
    if seconds is not None:
        store.set_monitor_duration(submission_id, seconds, "audit")


def rebuild(store: Store, forms, project_id: int) -> int:
    """Recompute every submission's facts from the stored XML (after the migration, or a change of rules)."""
    from .aggregates import record_from_xml
    done = 0
    with store.transaction():   # one unit of work: the old facts are never gone without the new ones
        store.clear_monitor_facts(project_id)
        for row in store.monitor_sources(project_id):
            record = None if row["encrypted"] else record_from_xml(store, forms, row["form_def_id"],
                                                                   bytes(row["xml"]))
            refresh(store, project_id, row["xml_form_id"], row["submission_id"], row["def_id"], record,
                    row["device_id"], row["user_id"], row["received_at"], row["n_flags"] or 0)
            done += 1
    return done


# --------------------------------------------------------------------------- checks across submissions (pure)

def _robust_outliers(rows: list[dict], key: str, k: float) -> set[int]:
    """Submissions whose `key` lies further than k scaled MADs from the median of their cluster and round."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        if row[key] is not None:
            groups.setdefault((row["cluster"], row["round"]), []).append(row)
    found = set()
    for members in groups.values():
        if len(members) < MIN_REFERENCE:
            continue
        values = [r[key] for r in members]
        median = statistics.median(values)
        mad = statistics.median(abs(v - median) for v in values) * MAD_SCALE
        if mad == 0:
            continue
        found |= {r["submission_id"] for r in members if abs(r[key] - median) > k * mad}
    return found


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def _far_points(rows: list[dict], metres: float) -> dict[int, float]:
    """{submission: metres from its hamlet's median point} for points further than `metres`."""
    hamlets: dict[tuple, list[dict]] = {}
    for row in rows:
        if row["lat"] is not None and row["hamlet"]:
            hamlets.setdefault((row["cluster"], row["hamlet"]), []).append(row)
    far = {}
    for members in hamlets.values():
        if len(members) < MIN_REFERENCE:
            continue
        lat, lon = statistics.median(r["lat"] for r in members), statistics.median(r["lon"] for r in members)
        for r in members:
            d = distance_m(r["lat"], r["lon"], lat, lon)
            if d > metres:
                far[r["submission_id"]] = d
    return far


def checks(reference: list[dict], thresholds: Thresholds) -> dict[str, set[int]]:
    """{check: submissions it picks} over the reference facts (a cluster's, for the checks that compare)."""
    counted = [r for r in reference if r["review_state"] != "rejected"]
    income = [r for r in counted if r["form_id"] == "household_income"]
    seen: dict[tuple, list[int]] = {}
    for r in income:
        if r["hh_id"]:
            seen.setdefault((r["round"], r["hh_id"]), []).append(r["submission_id"])
    return {
        "short": {r["submission_id"] for r in reference
                  if r["duration_s"] is not None and r["duration_s"] < thresholds.short_minutes * 60},
        "unknown": {r["submission_id"] for r in reference if r["n_dk"] + r["n_refused"] > 0},
        "flagged": {r["submission_id"] for r in reference if r["n_flags"] > 0},
        "duplicate": {s for ids in seen.values() if len(ids) > 1 for s in ids},
        "income_outlier": _robust_outliers(income, "income_pc", thresholds.outlier_k),
        "consumption_outlier": _robust_outliers(income, "consumption_pc", thresholds.outlier_k),
        "gps_far": set(_far_points(counted, thresholds.gps_far_m)),
    }


def _minutes(seconds: float | None) -> float | None:
    return round(seconds / 60, 1) if seconds is not None else None


def _figures(rows: list[dict], picked: Mapping[str, set[int]], thresholds: Thresholds) -> dict:
    """The figures of one enumerator (for a day or the period)."""
    durations = [r["duration_s"] for r in rows if r["duration_s"] is not None]
    asked = sum(r["n_asked"] for r in rows)
    median = statistics.median(durations) if durations else None
    ids = {r["submission_id"] for r in rows}
    out = {"submissions": len(rows), "median_minutes": _minutes(median),
           "shortest_minutes": _minutes(min(durations) if durations else None),
           "timed": len(durations), "from_audit": sum(r["duration_source"] == "audit" for r in rows),
           "dk_share": round(sum(r["n_dk"] for r in rows) / asked, 3) if asked else None,
           "refused_share": round(sum(r["n_refused"] for r in rows) / asked, 3) if asked else None,
           "flags": sum(r["n_flags"] for r in rows),
           **{check: len(ids & picked[check]) for check in CHECKS}}
    out["too_short"] = median is not None and median < thresholds.short_minutes * 60
    unknown = (out["dk_share"] or 0) + (out["refused_share"] or 0)
    out["many_unknown"] = asked > 0 and unknown > thresholds.unknown_share
    return out


# --------------------------------------------------------------------------- the report the page, API and CSV read

def period(since: str | None, until: str | None, today: dt.date | None = None) -> tuple[str, str]:
    """The days asked for (YYYY-MM-DD, inclusive), by default the last seven; a Problem for a day that is not one."""
    today = today or dt.date.today()
    for name, value in (("from", since), ("to", until)):
        if value and not _is_day(value):
            raise errors.bad_request(f"{name} must be a day as YYYY-MM-DD, not {value!r}")
    until = until or today.isoformat()
    since = since or (dt.date.fromisoformat(until) - dt.timedelta(days=6)).isoformat()
    return since, until


def report(store: Store, project_id: int, allowed: frozenset[str] | None, since: str, until: str,
           form: str | None = None, cluster: str | None = None) -> dict:
    """Per enumerator for the period and per enumerator and day: the figures, with the thresholds used."""
    thresholds = Thresholds.of(store, project_id)
    in_clusters = [cluster] if cluster else None
    rows = store.monitor_facts(project_id, allowed, since, until, form, in_clusters)
    picked = checks(_reference(store, project_id, allowed, rows), thresholds)
    names = store.monitor_enumerator_names(project_id)
    by_enumerator: dict[str, list[dict]] = {}
    by_day: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        by_enumerator.setdefault(r["enumerator"], []).append(r)
        by_day.setdefault((r["day"], r["enumerator"]), []).append(r)
    enumerators = [{"enumerator": key, "name": names.get(key, key), **_figures(group, picked, thresholds)}
                   for key, group in sorted(by_enumerator.items(), key=lambda kv: names.get(kv[0], kv[0]))]
    days = [{"day": day, "enumerator": key, "name": names.get(key, key), **_figures(group, picked, thresholds)}
            for (day, key), group in sorted(by_day.items(), key=lambda kv: (kv[0][0], names.get(kv[0][1], "")))]
    return {"from": since, "to": until, "form": form, "cluster": cluster, "thresholds": asdict(thresholds),
            "enumerators": enumerators, "days": days}


def submission_ids(store: Store, project_id: int, allowed: frozenset[str] | None, since: str, until: str,
                   enumerator: str | None, check: str | None, form: str | None = None) -> list[int]:
    """The submissions behind one figure of the report: an enumerator's in the period, those a check picks."""
    if check is not None and check not in CHECKS:
        raise errors.bad_request(f"check must be one of {', '.join(CHECKS)}")
    thresholds = Thresholds.of(store, project_id)
    rows = [r for r in store.monitor_facts(project_id, allowed, since, until, form)
            if enumerator is None or r["enumerator"] == enumerator]
    ids = {r["submission_id"] for r in rows}
    if check is not None:
        ids &= checks(_reference(store, project_id, allowed, rows), thresholds)[check]
    return sorted(ids, reverse=True)


def _reference(store: Store, project_id: int, allowed: frozenset[str] | None, rows: list[dict]) -> list[dict]:
    """What the period's submissions are compared with: every submission of their clusters (any day, any form),
    and those without a cluster (encrypted ones) as themselves."""
    clusters = {r["cluster"] for r in rows if r["cluster"]}
    reference = store.monitor_facts(project_id, allowed, in_clusters=clusters) if clusters else []
    return reference + [r for r in rows if not r["cluster"]]


DAILY_COLUMNS = ("day", "enumerator", "name", "submissions", "median_minutes", "shortest_minutes", "timed",
                 "from_audit", "too_short", "short", "dk_share", "refused_share", "unknown", "flags", "flagged",
                 "duplicate", "income_outlier", "consumption_outlier", "gps_far")
