"""The storage contract (server/storage/contract.py): both stores implement every declared method with the declared
signature, a step of a unit of work refuses to run outside store.transaction(), a unit of work is stored whole or
not at all, and the PostgreSQL engine's placeholder translation leaves string literals alone."""

from __future__ import annotations

import inspect

import pytest

from server.storage import StorageError, contract
from server.storage.postgres import PostgresStore
from server.storage.postgres_engine import ddl, translate
from server.storage.sqlite import SQLiteStore

PROTOCOLS = (contract.FormStore, contract.SubmissionStore, contract.ListStore, contract.AggregateStore,
             contract.ReviewStore, contract.PeopleStore, contract.MonitoringStore, contract.ChartStore,
             contract.CentralStore, contract.ExportStore, contract.MaintenanceStore)
# Public methods a store may have beyond the contract: engine-specific administration used by `ppa backup/restore`
# and the engine's raw handle for tests.
ENGINE_ONLY = {SQLiteStore: {"db", "restore_from"},
               PostgresStore: {"db", "pool", "is_empty", "restore_dump", "applied_migrations"}}


def _declared() -> dict[str, inspect.Signature]:
    out = {}
    for protocol in PROTOCOLS:
        for name, member in vars(protocol).items():
            if not name.startswith("_") and callable(member):
                assert name not in out, f"{name} is declared twice in contract.py"
                out[name] = inspect.signature(member)
    return out


def _shape(signature: inspect.Signature) -> list[tuple]:
    return [(p.name, p.kind, p.default, str(p.annotation)) for p in signature.parameters.values()]


def test_the_store_protocol_is_the_union_of_the_concerns():
    declared = set(_declared())
    union = {n for n in dir(contract.Store) if not n.startswith("_") and callable(getattr(contract.Store, n))}
    assert declared == union
    assert len(declared) > 120


@pytest.mark.parametrize("store_class", [SQLiteStore, PostgresStore], ids=["sqlite", "postgresql"])
def test_each_store_implements_every_method_of_the_contract_with_its_signature(store_class):
    for name, declared in _declared().items():
        implemented = getattr(store_class, name, None)
        assert callable(implemented), f"{store_class.__name__} has no {name}()"
        assert _shape(inspect.signature(implemented)) == _shape(declared), \
            f"{store_class.__name__}.{name}{inspect.signature(implemented)} differs from contract.py's {declared}"
        assert inspect.getdoc(getattr(contract.Store, name)), f"contract.py's {name}() has no docstring"


@pytest.mark.parametrize("store_class", [SQLiteStore, PostgresStore], ids=["sqlite", "postgresql"])
def test_no_store_has_public_methods_outside_the_contract(store_class):
    public = {n for n in dir(store_class) if not n.startswith("_") and callable(getattr(store_class, n, None))
              or isinstance(getattr(store_class, n, None), property) and not n.startswith("_")}
    extra = public - set(_declared()) - ENGINE_ONLY[store_class]
    assert not extra, f"declare these in contract.py (or make them private): {sorted(extra)}"


def test_a_step_write_outside_a_transaction_is_refused_and_stores_nothing(store, project):
    form = store.get_form(project["id"], "household_income")
    with pytest.raises(StorageError, match=r"outside store\.transaction\(\)"):
        store.create_submission(project["id"], form["id"], "uuid:outside")
    with pytest.raises(StorageError, match="replace_hh_income"):
        store.replace_hh_income(project["id"], 1, None)
    assert store.count_submissions(form["id"]) == 0


def test_a_unit_of_work_that_raises_is_rolled_back_whole(store, project):
    form = store.get_form(project["id"], "household_income")
    with pytest.raises(RuntimeError, match="half-way"):
        with store.transaction():
            store.create_submission(project["id"], form["id"], "uuid:rolled-back")
            store.put_blob(b"a file of a submission that fails")
            raise RuntimeError("failed half-way")
    assert store.count_submissions(form["id"]) == 0
    assert store.get_blob(__import__("hashlib").sha256(b"a file of a submission that fails").hexdigest()) is None
    with store.transaction():
        submission_id = store.create_submission(project["id"], form["id"], "uuid:committed")
    assert store.count_submissions(form["id"]) == 1 and submission_id > 0


def test_a_nested_transaction_is_a_savepoint_that_rolls_back_alone(store, project):
    with store.transaction():
        store.audit("test", "outer")
        with pytest.raises(RuntimeError):
            with store.transaction():
                store.audit("test", "inner")
                raise RuntimeError("inner fails")
        store.audit("test", "after")
    assert [e["action"] for e in store.audit_entries(limit=10) if e["actor"] == "test"] == ["after", "outer"]


def test_shared_secret_is_made_once_and_read_back_by_every_caller(store):
    first = store.shared_secret("probe", lambda: "made-first")
    assert store.shared_secret("probe", lambda: "made-second") == first == "made-first"


def test_placeholders_are_translated_outside_string_literals_only():
    assert translate("SELECT '?', \"a?b\", x FROM t WHERE a = ? AND b LIKE 'x%' AND c = ?") == \
        "SELECT '?', \"a?b\", x FROM t WHERE a = %s AND b LIKE 'x%%' AND c = %s"
    assert translate("SELECT 'it''s ?' WHERE a = ?") == "SELECT 'it''s ?' WHERE a = %s"


def test_schema_ddl_gets_the_postgresql_types():
    assert ddl("id INTEGER PRIMARY KEY,\n x BLOB, y REAL,\n email TEXT NOT NULL UNIQUE COLLATE NOCASE,\n"
               "z INTEGER) WITHOUT ROWID;") == (
        "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n x BYTEA, y DOUBLE PRECISION,\n"
        " email CITEXT NOT NULL UNIQUE,\nz INTEGER);")


def test_a_database_url_that_is_not_postgresql_is_refused_naming_the_setting():
    from server import config
    with pytest.raises(config.SettingError, match=r"PPA_DATABASE_URL='mysql://db/ppa' must be a PostgreSQL URL"):
        config.load(environ={"PPA_DATABASE_URL": "mysql://db/ppa"})
    assert config.load(environ={"PPA_DATABASE_URL": " postgresql://ppa@db:5432/ppa "})["DATABASE_URL"] == \
        "postgresql://ppa@db:5432/ppa"
    assert config.load(environ={})["DATABASE_URL"] == ""
