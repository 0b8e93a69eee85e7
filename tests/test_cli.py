"""The `ppa` command line, run with click's CliRunner against a temporary data folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from server.cli import main

FORMS = Path(__file__).parent.parent / "forms"


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("PPA_DATA", str(tmp_path))
    monkeypatch.setenv("PPA_PUBLIC_URL", "https://ppa.example.org")
    monkeypatch.setenv("PPA_LOG_LEVEL", "WARNING")

    def invoke(*args, input=None):
        result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
        return result
    return invoke


def test_init_publishes_the_three_forms_and_prints_a_generated_admin_password_once(run):
    first = run("init", "--skip-validate")
    assert first.exit_code == 0, first.output
    for form_id in ("household_income", "poverty_nodes", "well_being_ranking"):
        assert f"form {form_id} version" in first.output and "published" in first.output
    assert "first admin created: admin@localhost with password" in first.output
    second = run("init", "--skip-validate")
    assert "first admin created" not in second.output
    assert second.output.count("unchanged") == 3


def test_init_uses_the_configured_admin_password(run, monkeypatch):
    monkeypatch.setenv("PPA_ADMIN_PASSWORD", "a-long-enough-password")
    result = run("init", "--skip-validate")
    assert "first admin created" not in result.output


def test_device_add_prints_one_json_line_with_server_url_and_token(run):
    run("init", "--skip-validate")
    result = run("device", "add", "--project", "1", "Rekha's phone")
    line = json.loads(result.output)
    assert line["server_url"] == f"https://ppa.example.org/v1/key/{line['token']}/projects/1"
    assert len(line["token"]) == 64


def test_device_revoke_by_token_and_list_shows_it_revoked(run):
    run("init", "--skip-validate")
    token = json.loads(run("device", "add", "--project", "1", "phone").output)["token"]
    assert json.loads(run("device", "revoke", token).output)["revoked"] is True
    listed = [json.loads(line) for line in run("device", "list").output.splitlines()]
    assert listed[0]["revoked_at"] and "token" not in listed[0]


def test_device_add_to_a_missing_project_fails_clearly(run):
    run("init", "--skip-validate")
    result = CliRunner().invoke(main, ["device", "add", "--project", "9", "phone"])
    assert result.exit_code != 0 and "no project 9" in result.output


def test_project_add_seeds_the_cluster_registry(run):
    run("init", "--skip-validate")
    created = json.loads(run("project", "add", "Orissa CDP PPA 2026").output)
    exported = run("lists", "export", "--project", str(created["id"]), "clusters.csv").output
    assert exported.splitlines()[0] == "name,label,state,district,sector,product"
    assert any(line.startswith("chanderi,") for line in exported.splitlines())


def test_lists_import_adds_rows_and_reports_a_bad_row(run, tmp_path):
    run("init", "--skip-validate")
    good = tmp_path / "h.csv"
    good.write_text("name,label,cluster,sector\nchanderi-w09,Ward 9,chanderi,urban\n")
    assert json.loads(run("lists", "import", "--project", "1", "hamlets.csv", str(good)).output)["changed"] == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("name,label,cluster,sector\n,No name,chanderi,urban\n")
    result = CliRunner().invoke(main, ["lists", "import", "--project", "1", "hamlets.csv", str(bad)])
    assert result.exit_code != 0 and "row 2, column name" in result.output


def test_form_state_closing_hides_the_form(run):
    run("init", "--skip-validate")
    run("form", "state", "--project", "1", "poverty_nodes", "closing")
    forms = {json.loads(line)["form_id"]: json.loads(line) for line in run("form", "list", "--project", "1")
             .output.splitlines()}
    assert forms["poverty_nodes"]["state"] == "closing"


def test_form_publish_refuses_same_version_with_other_content(run, tmp_path):
    run("init", "--skip-validate")
    changed = tmp_path / "x.xml"
    changed.write_bytes((FORMS / "poverty_nodes.xml").read_bytes().replace(b"<h:title>", b"<h:title>Changed "))
    result = CliRunner().invoke(main, ["form", "publish", "--project", "1", str(changed)])
    assert result.exit_code != 0 and "already has a published version" in result.output


def test_user_add_reads_the_password_from_stdin(run):
    run("init", "--skip-validate")
    result = run("user", "add", "--role", "researcher", "--email", "r@example.org", "--project", "1",
                 input="correct horse battery\n")
    assert json.loads(result.output)["role"] == "researcher"
    short = CliRunner().invoke(main, ["user", "add", "--role", "nda", "--email", "n@example.org", "--project", "1",
                                      "--cluster", "chanderi"], input="short\n")
    assert short.exit_code != 0 and "at least 10" in short.output


def test_an_nda_needs_a_project_and_clusters(run):
    run("init", "--skip-validate")
    no_cluster = CliRunner().invoke(main, ["user", "add", "--role", "nda", "--email", "n@example.org", "--project",
                                           "1"], input="long-enough-password\n")
    assert no_cluster.exit_code != 0 and "--cluster" in no_cluster.output
    made = run("user", "add", "--role", "nda", "--email", "n@example.org", "--project", "1", "--cluster", "chanderi",
               input="long-enough-password\n")
    assert json.loads(made.output)["clusters"] == ["chanderi"]


def test_device_qr_prints_a_code_and_writes_a_png_that_decodes_to_the_settings(run, tmp_path):
    import zxingcpp
    from PIL import Image

    from server import qr
    run("init", "--skip-validate")
    device = json.loads(run("device", "add", "--project", "1", "Tablet 3").output)
    png = tmp_path / "qr.png"
    printed = run("device", "qr", str(device["id"]), "--png", str(png))
    assert "Tablet 3" in printed.output and "█" in printed.output
    (found,) = zxingcpp.read_barcodes(Image.open(png))
    assert qr.decode(found.text)["general"]["server_url"] == device["server_url"]


# -- first-day traps, with the real `ppa` command in a folder that holds no data ------------------------------------

PPA = Path(sys.executable).parent / "ppa"


def _ppa(folder: Path, *args: str, **settings: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PPA_")}
    env.update({f"PPA_{k}": v for k, v in settings.items()})
    return subprocess.run([str(PPA), *args], cwd=folder, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [["init", "--skip-validate"], ["serve"], ["project", "list"], ["backup", "b"],
                                  ["export", "--project", "1", "--form", "household_income"]])
def test_a_bad_setting_is_one_line_naming_it(tmp_path, args):
    result = _ppa(tmp_path, *args, PORT="eighty", LOG_LEVEL="WARNING")
    assert result.returncode == 1
    assert result.stderr == "Error: PPA_PORT='eighty' must be a whole number from 1 to 65535\n"
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []              # and nothing was made


def test_a_setting_out_of_range_or_not_among_the_choices_is_named(tmp_path):
    assert _ppa(tmp_path, "project", "list", PORT="70000").stderr.strip() == \
        "Error: PPA_PORT='70000' must be a whole number from 1 to 65535"
    assert _ppa(tmp_path, "project", "list", SYNCHRONOUS="always").stderr.strip() == \
        "Error: PPA_SYNCHRONOUS='always' must be one of NORMAL, FULL"


@pytest.mark.parametrize("args", [["project", "list"], ["device", "list"], ["lists", "export", "--project", "1",
                                  "hamlets.csv"], ["export", "--project", "1", "--form", "household_income"],
                                  ["backup", "b"]])
def test_a_command_in_a_folder_without_data_creates_no_database_and_says_where_it_looked(tmp_path, args):
    result = _ppa(tmp_path, *args)
    assert result.returncode == 1
    assert str(tmp_path / "instance") in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_command_names_the_data_folder_set_in_ppa_data(tmp_path):
    result = _ppa(tmp_path, "device", "list", DATA=str(tmp_path / "elsewhere"))
    assert result.returncode == 1
    assert f"no PPA database in the data folder {tmp_path / 'elsewhere'} (PPA_DATA={tmp_path / 'elsewhere'})" \
        in result.stderr
    assert not (tmp_path / "elsewhere").exists()


def test_init_says_which_data_folder_it_makes_and_later_commands_use_it(tmp_path):
    first = _ppa(tmp_path, "init", "--skip-validate", LOG_LEVEL="WARNING")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == \
        f"data folder: {tmp_path / 'instance'} (the default ./instance, in the folder the command runs in), new"
    again = _ppa(tmp_path, "init", "--skip-validate", LOG_LEVEL="WARNING")
    assert again.stdout.splitlines()[0].endswith("the command runs in)")     # not new the second time
    listed = _ppa(tmp_path, "project", "list")
    assert listed.returncode == 0 and json.loads(listed.stdout)["name"] == "PPA 2026"
