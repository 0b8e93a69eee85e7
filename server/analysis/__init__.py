"""Pure PPA analysis: well-being categories, agreement, poverty lines and FGT, concordance, change.

No Flask, no SQL and no I/O beyond reading the shipped poverty-line CSVs; the store, the
dashboards and the `ppa analyse` command feed these functions plain values.
Definitions and worked examples: docs/method.md, sections 2 to 8.
(concordance.concordance is not re-exported here: the name would hide its module.)
"""

from __future__ import annotations

from .agreement import (cohen_kappa, coverage, fleiss_kappa, fleiss_table, kappa_se, kendalls_w, landis_koch,
                        pairwise, percent_agreement, spearman)
from .change import mcnemar_exact, poverty_change, spells, transitions
from .concordance import Record
from .poverty import (Household, Line, MissingLine, PovertyLines, decompose, fgt, fgt_table, land_class,
                      per_capita, ppp_line, social_group_for_fgt, updated_line)
from .wellbeing import Combined, Rating, by_group, classify, combine, shares, summary

__all__ = [
    "Combined", "Household", "Line", "MissingLine", "PovertyLines", "Rating", "Record", "by_group", "classify",
    "cohen_kappa", "combine", "coverage", "decompose", "fgt", "fgt_table", "fleiss_kappa",
    "fleiss_table", "kappa_se", "kendalls_w", "land_class", "landis_koch", "mcnemar_exact", "pairwise",
    "per_capita", "percent_agreement", "poverty_change", "ppp_line", "shares", "social_group_for_fgt",
    "spearman", "spells", "summary", "transitions", "updated_line",
]
