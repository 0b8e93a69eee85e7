"""`ppa backup` while submissions are being written, then `ppa restore` into a new data folder: every submission
in the backup is the source's, byte for byte with its attachments; every submission stored before the backup
began is in it; the copy is consistent (integrity check, aggregates equal a rebuild); the secret key comes back;
and restore will not overwrite data unless told to."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from server import create_app
from server.backup_cli import COMMANDS, KEY, backup, restore
from server.bootstrap import ensure_default_project
from server.cli import main as ppa
from server.storage import SQLiteStore
from server.storage.postgres import PostgresStore
from server.submissions import Upload, UploadedFile, receive
from server.xforms import parse_xform

from . import factories

FORMS = Path(__file__).parent.parent / "forms"


def _household(form, rng: random.Random, i: int) -> Upload:
    _, xml, files = factories.household_with_photo(form, rng, i, members=4, photo_every=2, prefix="b")
    return Upload(xml=xml, files={name: UploadedFile(content, "image/jpeg", name) for name, content in files.items()},
                  user_agent="backup-test")


def _contents(store: SQLiteStore) -> dict[str, tuple[bytes, dict[str, bytes]]]:
    """Every submission version by instanceID: its XML and its attachments."""
    out = {}
    for def_id, instance_id in store.db.execute("SELECT id, instance_id FROM submission_defs ORDER BY id"):
        files = {a["name"]: store.get_blob(a["blob_sha256"]) if a["blob_sha256"] else None
                 for a in store.attachments(def_id)}
        out[instance_id] = (store.submission_xml(def_id), files)
    return out


def _backup_while_writing(app, backup_env: dict[str, str], copy: Path) -> tuple[dict, set, list, dict]:
    """Submissions are written by a thread while `ppa backup` runs; returns when each was acknowledged, those
    acknowledged before the backup began, the uploads, and the backup's manifest."""
    ppa_ext = app.extensions["ppa"]
    store = ppa_ext.store
    project = ensure_default_project(store, "Backup test", FORMS, validate=False).project_id
    form = parse_xform((FORMS / "household_income.xml").read_bytes())
    rng = random.Random(7)
    uploads = [_household(form, rng, i) for i in range(400)]

    stored_at: dict[str, float] = {}          # instanceID -> when receive() returned (the 201)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for upload in uploads:
                if stop.is_set():
                    break
                receipt = receive(store, ppa_ext.forms, project, upload)
                stored_at[receipt.instance_id] = time.monotonic()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(stored_at) < 40 and thread.is_alive():
            time.sleep(0.005)
        began = time.monotonic()
        taken = CliRunner().invoke(backup, [str(copy)], env=backup_env)
        ended = time.monotonic()
        assert taken.exit_code == 0, taken.output
        before = {i for i, t in stored_at.items() if t < began}
        written_during = len(stored_at) - len(before)
        while len(stored_at) < len(before) + written_during + 40 and thread.is_alive():
            time.sleep(0.005)      # the server goes on after the backup
    finally:
        stop.set()
        thread.join(60)
        store.close()
    assert not errors, errors
    assert ended - began < 30
    return stored_at, before, uploads, json.loads(taken.output.strip().splitlines()[-1])


def _check_restored(source_store, target_store, stored_at: dict, before: set, uploads: list) -> None:
    """The restored copy holds everything acknowledged before the backup began, each submission whole, nothing
    half-stored, and not what was written after."""
    original, back = _contents(source_store), _contents(target_store)
    assert target_store.integrity_check() == "ok"
    assert before <= set(back)                          # everything acknowledged before the backup began
    assert len(back) < len(original)                    # and the writing went on after it
    for instance_id, (xml, files) in back.items():      # each one is the source's, whole
        assert (xml, files) == original[instance_id], instance_id
        if instance_id in stored_at:
            expected = next(u for u in uploads if instance_id.encode() in u.xml)
            assert xml == expected.xml
            assert files == {n: f.content for n, f in expected.files.items()}
    counts = {t: target_store.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("submissions", "submission_defs", "data_1_household_income", "hh_income")}
    assert len(set(counts.values())) == 1, counts        # no half-stored submission in the copy


@pytest.mark.sqlite_only("the SQLite backup file and the key file in the data folder")
def test_backup_taken_while_writing_restores_every_submission(tmp_path, engine):
    source, copy, target = tmp_path / "source", tmp_path / "backup", tmp_path / "restored"
    app = create_app({"DATA": str(source), "LOG_LEVEL": "WARNING"})
    stored_at, before, uploads, manifest = _backup_while_writing(app, {"PPA_DATA": str(source)}, copy)
    assert manifest["integrity"] == "ok" and manifest["secret_key"] == "copied"
    assert sorted(p.name for p in copy.iterdir()) == ["backup.json", "ppa.db", "secret_key"]

    restored = CliRunner().invoke(restore, [str(copy)], env={"PPA_DATA": str(target)})
    assert restored.exit_code == 0, restored.output
    assert (target / "secret_key").read_bytes() == (source / "secret_key").read_bytes()

    source_store, target_store = SQLiteStore(source / "ppa.db"), SQLiteStore(target / "ppa.db")
    try:
        _check_restored(source_store, target_store, stored_at, before, uploads)
    finally:
        source_store.close()
        target_store.close()
    checked = CliRunner().invoke(ppa, ["aggregates", "rebuild", "--project", "1", "--check"],
                                 env={"PPA_DATA": str(target)})
    assert checked.exit_code == 0, checked.output


@pytest.mark.postgresql_only
def test_backup_of_a_running_postgresql_database_restores_every_submission(tmp_path, engine, pg_cluster):
    """The same on PostgreSQL: `ppa backup` dumps one snapshot of the database being written to (attachments and
    the secret key are rows of it), `ppa restore` loads it into an empty database, and the two are compared."""
    source_url = pg_cluster.new_database()
    pg_cluster.sql("CREATE DATABASE restored_into")
    target_url = pg_cluster.url("restored_into")
    source, copy = tmp_path / "source", tmp_path / "backup"
    app = create_app({"DATA": str(source), "LOG_LEVEL": "WARNING", "DATABASE_URL": source_url})
    source_env = {"PPA_DATA": str(source), "PPA_DATABASE_URL": source_url}
    target_env = {"PPA_DATA": str(tmp_path / "restored"), "PPA_DATABASE_URL": target_url}
    try:
        stored_at, before, uploads, manifest = _backup_while_writing(app, source_env, copy)
        assert manifest["integrity"] == "ok" and manifest["secret_key"] == "in the database copy"
        assert manifest["counts"]["submissions"] >= len(before)
        assert sorted(p.name for p in copy.iterdir()) == ["backup.json", "ppa.pgdump"]

        restored = CliRunner().invoke(restore, [str(copy)], env=target_env)
        assert restored.exit_code == 0, restored.output
        assert json.loads(restored.output.strip().splitlines()[-1])["counts"] == manifest["counts"]
        again = CliRunner().invoke(restore, [str(copy)], env=target_env)
        assert again.exit_code != 0 and "--force" in again.output

        source_store, target_store = PostgresStore(source_url), PostgresStore(target_url)
        try:
            _check_restored(source_store, target_store, stored_at, before, uploads)
            key = source_store.shared_secret("secret_key", lambda: "not made again")
            assert target_store.shared_secret("secret_key", lambda: "not made again") == key == app.config["SECRET_KEY"]
        finally:
            source_store.close()
            target_store.close()
        checked = CliRunner().invoke(ppa, ["aggregates", "rebuild", "--project", "1", "--check"], env=target_env)
        assert checked.exit_code == 0, checked.output
    finally:
        pg_cluster.drop_database(source_url)
        pg_cluster.drop_database(target_url)


def test_restore_refuses_a_folder_with_data_unless_forced(tmp_path):
    source, copy, other = tmp_path / "source", tmp_path / "backup", tmp_path / "other"
    for folder, name in ((source, "Source"), (other, "Other")):
        app = create_app({"DATA": str(folder), "LOG_LEVEL": "WARNING"})
        app.extensions["ppa"].store.create_project(name)
        app.extensions["ppa"].store.close()
    assert CliRunner().invoke(backup, [str(copy)], env={"PPA_DATA": str(source)}).exit_code == 0
    again = CliRunner().invoke(backup, [str(copy)], env={"PPA_DATA": str(source)})
    assert again.exit_code != 0 and "--force" in again.output

    refused = CliRunner().invoke(restore, [str(copy)], env={"PPA_DATA": str(other)})
    assert refused.exit_code != 0 and "not empty" in refused.output
    store = SQLiteStore(other / "ppa.db")
    assert [p["name"] for p in store.list_projects()] == ["Other"]
    store.close()

    forced = CliRunner().invoke(restore, [str(copy), "--force"], env={"PPA_DATA": str(other)})
    assert forced.exit_code == 0, forced.output
    store = SQLiteStore(other / "ppa.db")
    assert [p["name"] for p in store.list_projects()] == ["Source"]
    assert store.integrity_check() == "ok"
    store.close()
    assert (other / "secret_key").read_bytes() == (source / "secret_key").read_bytes()


def test_a_damaged_backup_is_refused(tmp_path):
    copy, target = tmp_path / "backup", tmp_path / "target"
    copy.mkdir()
    (copy / "ppa.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 84 + b"not a database" * 100)
    result = CliRunner().invoke(restore, [str(copy)], env={"PPA_DATA": str(target)})
    assert result.exit_code == 1 and "not a usable SQLite database" in result.output, result.output
    assert not (target / "ppa.db").exists() or (target / "ppa.db").stat().st_size == 0


def test_the_commands_are_exported_for_the_ppa_group():
    assert [c.name for c in COMMANDS] == ["backup", "restore"]


# -- what restore refuses: each refusal leaves the data folder exactly as it was ----------------------------------

def _folder_with_data(folder: Path, name: str) -> None:
    app = create_app({"DATA": str(folder), "LOG_LEVEL": "WARNING"})
    app.extensions["ppa"].store.create_project(name)
    app.extensions["ppa"].store.close()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def backup_and_target(tmp_path):
    """A good backup of a folder with a project "Source", and a data folder with a project "Target"."""
    source, copy, target = tmp_path / "source", tmp_path / "backup", tmp_path / "target"
    _folder_with_data(source, "Source")
    _folder_with_data(target, "Target")
    taken = CliRunner().invoke(backup, [str(copy)], env={"PPA_DATA": str(source)})
    assert taken.exit_code == 0, taken.output
    return copy, target


def _restore_refused(copy: Path, target: Path, *extra: str) -> str:
    before = _snapshot(target)
    result = CliRunner().invoke(restore, [str(copy), "--force", *extra], env={"PPA_DATA": str(target)})
    assert result.exit_code == 1, result.output
    assert _snapshot(target) == before            # nothing replaced, even with --force
    store = SQLiteStore(target / "ppa.db")
    assert [p["name"] for p in store.list_projects()] == ["Target"]
    store.close()
    return result.output


def test_restore_refuses_a_folder_that_is_not_a_ppa_data_folder(backup_and_target, tmp_path):
    _copy, target = backup_and_target
    holiday = tmp_path / "photos"
    holiday.mkdir()
    (holiday / "beach.jpg").write_bytes(b"\xff\xd8 not a database")
    assert "not a PPA data folder or backup" in _restore_refused(holiday, target)


def test_restore_refuses_a_sqlite_database_that_is_not_ppas(backup_and_target, tmp_path):
    _copy, target = backup_and_target
    other = tmp_path / "other"
    other.mkdir()
    conn = sqlite3.connect(other / "ppa.db")
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.commit()
    conn.close()
    assert "not a PPA database" in _restore_refused(other, target)


def test_restore_refuses_a_database_at_a_newer_migration(backup_and_target):
    copy, target = backup_and_target
    conn = sqlite3.connect(copy / "ppa.db")
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                 "VALUES ('ppa', 'm999_from_the_future', '2030-01-01')")
    conn.commit()
    conn.close()
    output = _restore_refused(copy, target)
    assert "newer version of the server" in output and "m999_from_the_future" in output


def test_restore_runs_the_integrity_check_before_replacing_anything(backup_and_target):
    copy, target = backup_and_target
    conn = sqlite3.connect(copy / "ppa.db")   # the index of the migrations made to read an empty one: openable
    empty = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_users_1'").fetchone()[0]
    conn.execute("PRAGMA writable_schema = ON")
    changed = conn.execute("UPDATE sqlite_master SET rootpage = ? WHERE type = 'index' "
                           "AND tbl_name = '_sqlite_migrations'", [empty]).rowcount
    assert changed == 1
    conn.commit()
    conn.close()
    assert "integrity check failed" in _restore_refused(copy, target)


def test_restore_follows_no_symbolic_link_in_the_backup(backup_and_target, tmp_path):
    copy, target = backup_and_target
    secret = tmp_path / "outside.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (copy / "attachments").mkdir()
    (copy / "attachments" / "x").symlink_to(secret)
    output = _restore_refused(copy, target)
    assert "attachments/x is a symbolic link" in output
    (copy / "attachments" / "x").unlink()

    (copy / KEY).unlink()
    (copy / KEY).symlink_to(secret)                 # a key taken from outside the backup
    assert "secret_key is a symbolic link" in _restore_refused(copy, target)
    assert secret.read_text() not in (target / KEY).read_text()


def test_restore_refuses_a_backup_folder_given_as_a_symbolic_link(backup_and_target, tmp_path):
    copy, target = backup_and_target
    (tmp_path / "latest").symlink_to(copy)
    assert "is a symbolic link: give the folder it points to" in _restore_refused(tmp_path / "latest", target)
