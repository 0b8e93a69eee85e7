"""What each chart on the pages draws, as plain dicts: pure functions from the numbers of server.reports (the same
numbers the JSON API returns) to a chart description that static/charts.js hands to Chart.js. No Flask, no
database.

A description is {"kind", "labels", "datasets": [{"key", "label", "data"}], ...}; "kind" is one of
  stacked-share  100% stacked horizontal bars (data: percentages; "counts" beside them: the households),
  stacked        stacked bars (data: counts),
  bars           plain bars (one or more datasets side by side),
and "highlight" lists the indexes of labels to draw darker (e.g. hamlets that moved towards sad). Each page shows
the same numbers in a table beside the chart, so the page reads without JavaScript too.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Callable, Iterable, Mapping, Sequence

CATEGORIES = ("happy", "average", "sad")
Label = Callable[[str], str]


def _same(value: str) -> str:
    return value


def wellbeing_shares(rows: Sequence[Mapping[str, Any]], key: Callable[[Mapping], str],
                     label: Callable[[Mapping], str]) -> dict:
    """Happy / average / sad as shares of the rated households of each scope (a row of reports.wellbeing), so
    clusters and hamlets of different sizes compare; the counts ride along for the tooltip."""
    shown = [r for r in rows if r["n_rated"]]
    return {"kind": "stacked-share", "labels": [label(r) for r in shown], "keys": [key(r) for r in shown],
            "unit": "% of rated households",
            "datasets": [{"key": c, "label": c, "data": [_pct(r["shares"][c]) for r in shown],
                          "counts": [r["counts"][c] for r in shown]} for c in CATEGORIES],
            "small_n": [i for i, r in enumerate(shown) if r["small_n"]]}


def change_by_hamlet(rows: Sequence[Mapping[str, Any]], hamlet_label: Label = _same) -> dict:
    """Net households towards sad per hamlet (reports.change_by_hamlet, already sorted most towards sad first):
    moved to a sadder category minus moved to a happier one; hamlets with a net move towards sad highlighted."""
    return {"kind": "bars", "horizontal": True, "labels": [hamlet_label(r["hamlet"]) for r in rows],
            "keys": [r["hamlet"] for r in rows], "unit": "households (worsened − improved)",
            "datasets": [{"key": "net_towards_sad", "label": "net towards sad",
                          "data": [r["net_towards_sad"] for r in rows]}],
            "highlight": [i for i, r in enumerate(rows) if r["net_towards_sad"] > 0]}


def transitions(matrix: Mapping[str, Mapping[str, int]], base: int, follow: int) -> dict:
    """Where the households of each category of round `base` were in round `follow` (reports.change's matrix)."""
    return {"kind": "stacked", "labels": [f"{c} in round {base}" for c in CATEGORIES], "keys": list(CATEGORIES),
            "unit": "households",
            "datasets": [{"key": after, "label": f"{after} in round {follow}",
                          "data": [matrix[before][after] for before in CATEGORIES]} for after in CATEGORIES]}


def poverty_headcount(rows: Sequence[Mapping[str, Any]], key: str, label: Label = _same) -> dict:
    """P0, P1 and P2 (person-weighted, in %) per scope of reports.poverty (`key`: cluster or hamlet)."""
    shown = [r for r in rows if r["n_households"]]
    return {"kind": "bars", "labels": [label(r[key]) for r in shown], "keys": [r[key] for r in shown],
            "unit": "% (person-weighted)",
            "datasets": [{"key": f"P{a}", "label": name, "data": [_pct(r["person"][f"P{a}"]) for r in shown]}
                         for a, name in ((0, "P0 headcount"), (1, "P1 gap"), (2, "P2 severity"))]}


def poverty_by_group(groups: Sequence[Mapping[str, Any]], by: str) -> dict:
    """P_alpha of each group of reports.decomposition (e.g. by social group), with its population share."""
    return {"kind": "bars", "labels": [str(g["group"]) for g in groups], "keys": [str(g["group"]) for g in groups],
            "unit": "%", "by": by,
            "datasets": [{"key": "p_alpha", "label": "poverty (P0 headcount)",
                          "data": [_pct(g["p_alpha"]) for g in groups]},
                         {"key": "population_share", "label": "share of the people",
                          "data": [_pct(g["population_share"]) for g in groups]}]}


def node_households(nodes: Sequence[Mapping[str, Any]], label: Callable[[Mapping], str]) -> dict:
    """Each poverty node's linked households by well-being category (reports.nodes)."""
    return {"kind": "stacked", "horizontal": True, "labels": [label(n) for n in nodes],
            "keys": [n["node_id"] for n in nodes], "unit": "linked households",
            "datasets": [{"key": c, "label": c, "data": [n["wellbeing"]["counts"].get(c, 0) for n in nodes]}
                         for c in CATEGORIES]}


def per_day(rows: Iterable[Mapping[str, Any]], days: Sequence[str]) -> dict:
    """Submissions per day, one stacked series per form or enumerator (rows: day, key, label, n)."""
    series: dict[str, dict] = {}
    for r in rows:
        entry = series.setdefault(r["key"], {"key": r["key"], "label": r["label"], "data": [0] * len(days)})
        if r["day"] in days:
            entry["data"][days.index(r["day"])] += r["n"]
    return {"kind": "stacked", "labels": list(days), "keys": list(days), "unit": "submissions",
            "datasets": sorted(series.values(), key=lambda s: s["key"])}


def last_days(today: dt.date, n: int = 14) -> list[str]:
    return [(today - dt.timedelta(days=n - 1 - i)).isoformat() for i in range(n)]


def _pct(value: Any) -> float | None:
    return None if value is None else round(100 * float(value), 1)


# --------------------------------------------------------------------------- the map

def geopoint(value: Any) -> tuple[float, float] | None:
    """(latitude, longitude) of a geopoint answer ("lat lon [altitude [accuracy]]"), None when absent or not a
    point on Earth; a phone's text is never trusted to be one."""
    parts = str(value or "").split()
    if len(parts) < 2:
        return None
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def household_map(rows: Iterable[Mapping[str, Any]], hamlet_label: Label = _same) -> dict:
    """Households' points (store.household_points rows) and, per hamlet, where its name goes: under its southernmost
    point, centred on its points (so the name covers none of them). Households without a usable point are counted,
    not drawn."""
    points, missing, hamlets = [], 0, {}
    for r in rows:
        where = geopoint(r["gps"])
        if where is None:
            missing += 1
            continue
        points.append({"hh_id": r["hh_id"], "hamlet": r["hamlet"], "lat": where[0], "lon": where[1],
                       "category": r["category"] or "not ranked"})
        hamlets.setdefault(r["hamlet"], []).append(where)
    names = [{"hamlet": h, "label": hamlet_label(h), "n": len(pts), "lat": min(p[0] for p in pts),
              "lon": round(sum(p[1] for p in pts) / len(pts), 6)} for h, pts in sorted(hamlets.items())]
    return {"points": points, "hamlets": names, "n_without_point": missing}
