"""`ppa export`: writes a file that reads back; unknown projects and forms are clear errors."""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile

import openpyxl
import pytest
from click.testing import CliRunner

from bench import samples
from server.export_cli import export

from .factories import instance_id_of


@pytest.fixture
def sent(collect_client, app, store, project):
    form = app.extensions["ppa"].forms.get(store, store.get_form(project["id"], "household_income")["current_def_id"])
    rng = random.Random(3)
    xmls = []
    for i, (cluster, hamlet) in enumerate([("chanderi", "chanderi-w03"), ("chanderi", "chanderi-w07"),
                                           ("sindhudurg", "sindhudurg-parule")]):
        answers = samples.household_income(rng, f"{hamlet}-c{i}", cluster=cluster, hamlet=hamlet, members=4,
                                           on_list=False, head=f"Head {i}")
        xml = samples.instance_xml(form, samples.fill(form, answers, rng))
        assert collect_client.submit(xml).status == 201
        xmls.append(xml)
    return xmls


def run(tmp_path, *args):
    return CliRunner().invoke(export, list(args), env={"PPA_DATA": str(tmp_path), "PPA_LOG_LEVEL": "WARNING"},
                              catch_exceptions=False)


def test_export_writes_a_csv_zip_that_reads_back(tmp_path, project, sent):
    out = tmp_path / "out" / "hh.zip"
    out.parent.mkdir()
    result = run(tmp_path, "--project", str(project["id"]), "--form", "household_income", "--output", str(out))
    assert result.exit_code == 0, result.output
    archive = zipfile.ZipFile(out)
    main = list(csv.DictReader(io.TextIOWrapper(archive.open("household_income.csv"), encoding="utf-8")))
    members = list(csv.DictReader(io.TextIOWrapper(archive.open("household_income-member.csv"), encoding="utf-8")))
    assert [r["KEY"] for r in main] == [instance_id_of(x) for x in sent]
    assert len(members) == 12 and {m["PARENT_KEY"] for m in members} == {r["KEY"] for r in main}
    assert not list(out.parent.glob("*.part"))


def test_export_filters_and_formats(tmp_path, project, sent):
    out = tmp_path / "hh.xlsx"
    result = run(tmp_path, "--project", str(project["id"]), "--form", "household_income", "--format", "xlsx",
                 "--output", str(out), "--cluster", "chanderi", "--round", "1", "--review-state", "received",
                 "--from", "2000-01-01", "--labels", "--choice-labels")
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(out, read_only=True)["household_income"]
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 3 and "Who is answering? (main respondent)" in rows[0]
    assert rows[1][rows[0].index("Cluster")] == "Chanderi handloom"

    out = tmp_path / "hh.jsonl"
    result = run(tmp_path, "--project", str(project["id"]), "--form", "household_income", "--format", "jsonl",
                 "-o", str(out), "--cluster", "sindhudurg")
    assert result.exit_code == 0, result.output
    (line,) = out.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["__id"] == instance_id_of(sent[2]) and len(json.loads(line)["member"]) == 4

    result = run(tmp_path, "--project", str(project["id"]), "--form", "household_income", "--format", "raw",
                 "-o", "-")
    assert result.exit_code == 0
    names = zipfile.ZipFile(io.BytesIO(result.stdout_bytes)).namelist()
    assert len(names) == 3 and all(n.endswith("/submission.xml") for n in names)


def test_unknown_form_or_project_is_a_clear_error(tmp_path, project, sent):
    result = run(tmp_path, "--project", str(project["id"]), "--form", "household_incme", "-o", str(tmp_path / "x"))
    assert result.exit_code != 0
    assert "has no form 'household_incme'" in result.output and "household_income" in result.output
    assert not (tmp_path / "x").exists()
    result = run(tmp_path, "--project", "42", "--form", "household_income")
    assert result.exit_code != 0 and "There is no project 42" in result.output
    result = run(tmp_path, "--project", str(project["id"]), "--form", "household_income", "--from", "yesterday",
                 "-o", str(tmp_path / "x"))
    assert result.exit_code != 0 and "Not a date" in result.output
    result = run(tmp_path, "--project", str(project["id"]), "--form", "ppa_community", "--cluster", "chanderi",
                 "-o", str(tmp_path / "x"))
    assert result.exit_code != 0 and "no cluster question" in result.output
