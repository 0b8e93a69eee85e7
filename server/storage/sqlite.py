"""The SQLite store: the SQLite engine (sqlite_engine.py) with every query module. No Flask imports.

A new group of queries is a mixin class in a module of its own under server/storage/, added to the bases below;
PostgresStore (postgres.py) takes the same query bases from this class, so SQL written there runs on both engines.
What a store offers, and the transaction rules, are written down in contract.py."""

from __future__ import annotations

from .account_queries import AccountQueries
from .aggregate_queries import AggregateQueries
from .base import now
from .central_queries import CentralQueries
from .chart_queries import ChartQueries
from .bench_queries import BenchQueries
from .forms_queries import FormQueries
from .list_queries import ListQueries
from .monitoring_queries import MonitoringQueries
from .odata_queries import ODataQueries
from .settings_queries import SettingsQueries
from .sqlite_engine import SQLiteEngine
from .sqlite_exports import ExportQueries
from .sqlite_maintenance import MaintenanceQueries
from .sqlite_people import PeopleQueries
from .sqlite_ranking import RankingQueries
from .sqlite_review import ReviewQueries
from .submission_queries import SubmissionQueries
from .transition_queries import TransitionQueries


class SQLiteStore(SQLiteEngine, FormQueries, SubmissionQueries, ListQueries, AggregateQueries, PeopleQueries,
                  ReviewQueries, ExportQueries, MaintenanceQueries, RankingQueries, SettingsQueries, MonitoringQueries,
                  AccountQueries, ChartQueries, CentralQueries, BenchQueries, ODataQueries, TransitionQueries):
    """All persistence for one data folder."""


# SQLiteStore's bases that are SQLite machinery rather than shared queries: PostgresStore leaves them out.
SQLITE_ONLY = (SQLiteEngine, ExportQueries, MaintenanceQueries)


__all__ = ["SQLITE_ONLY", "SQLiteStore", "now"]
