"""`ppa analyse`: tables and JSON on small CSVs, and clear errors (exit code 2) on malformed ones."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from server.analyse_cli import analyse

from .test_analysis_wellbeing import EXAMPLE_3


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(*args: str):
    return CliRunner().invoke(analyse, list(args))


def squash(text: str) -> str:
    """The output with runs of spaces collapsed, so checks do not depend on column widths."""
    return re.sub(r" +", " ", text)


@pytest.fixture
def ratings_csv(tmp_path):
    words = {1: "happy", 2: "average", 3: "sad"}
    lines = ["household_id,group_id,level"]
    for hh, levels in EXAMPLE_3.items():
        for group, level in zip("ABC", levels):
            lines.append(f"{hh},{group},{words[level] if group == 'B' else level}")
    lines.append("H9,A,dk")
    return write(tmp_path, "ratings.csv", "\n".join(lines) + "\n")


EXAMPLE_1_CSV = """household_id,income_monthly,size,line,sex_head
1,2000,4,1000,F
2,3000,4,1000,F
3,4500,5,1000,M
4,3000,3,1000,M
5,6000,4,1000,M
6,2400,2,1000,M
"""


def test_wellbeing_table(ratings_csv):
    result = run("wellbeing", ratings_csv)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "happy 2 0.2500" in squash(out) and "sad 3 0.3750" in squash(out)
    assert "rated 8, flagged for review 1, unrated 1" in out
    assert "H7" in out and "disagreement" in out and "H9" in out
    assert "A-B 8 0.7500 0.3438 0.6190 0.7333 0.8333" in squash(out)
    assert "Fleiss' kappa: 0.4255 (20/47) over 8 households placed by all 3 groups [moderate]" in out
    assert "Kendall's W:   0.7358 (479/651)" in out


def test_wellbeing_json(ratings_csv):
    result = run("wellbeing", ratings_csv, "--json", "--tie", "poorer", "--min-groups", "3")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["summary"]["shares"]["average"] == 0.375 and data["summary"]["shares"]["average_exact"] == "3/8"
    assert data["summary"]["counts"] == {"happy": 2, "average": 3, "sad": 3}
    assert data["fleiss_kappa_exact"] == "20/47" and data["kendalls_w_exact"] == "479/651"
    pairs = {"".join(p["pair"]): p for p in data["pairwise"]}
    assert pairs["AC"]["kappa_exact"] == "5/11" and round(pairs["BC"]["kappa_quadratic"], 4) == 0.5556
    households = {h["household"]: h for h in data["households"]}
    assert households["H2"]["mean_exact"] == "4/3" and round(households["H2"]["grandin"], 2) == 44.44
    assert households["H9"]["flags"] == ["too_few_groups"] and households["H9"]["final"] is None


def test_wellbeing_piles(tmp_path):
    path = write(tmp_path, "piles.csv", "household_id,group_id,pile,piles,level\n"
                                        "H1,A,1,4,happy\nH1,B,1,3,\nH2,A,4,4,sad\nH2,B,3,3,\n"
                                        "H3,A,2,4,\nH3,B,dk,3,\n")
    result = run("wellbeing", path, "--json")
    assert result.exit_code == 0, result.output
    households = {h["household"]: h for h in json.loads(result.output)["households"]}
    assert households["H1"]["final"] == "happy" and households["H2"]["final"] == "sad"
    assert households["H3"]["final"] is None and households["H3"]["grandin"] == 50.0
    assert json.loads(result.output)["ratings_without_level"] == 1


def test_poverty_table_and_decomposition(tmp_path):
    path = write(tmp_path, "households.csv", EXAMPLE_1_CSV)
    result = run("poverty", path, "--by", "sex_head")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "P0 0.5909 13/22 0.5000 1/2" in squash(out)
    assert "P2 0.0591 13/220 0.0537 43/800" in squash(out)
    assert "households 6 (3 poor), persons 22 (13 poor)" in out
    assert "given in column line" in out and "households.csv, column line" in out
    assert "F 2 8 0.3636 1.0000 0.6154 0.3750 0.8571" in squash(out)


def test_poverty_json_with_official_lines(tmp_path):
    path = write(tmp_path, "households.csv", "household_id,income_monthly,size,state,sector,weight\n"
                                             "1,3000,4,Madhya Pradesh,urban,2\n2,3600,4,Madhya Pradesh,urban,\n"
                                             "3,2000,2,Telangana,rural,1\n")
    result = run("poverty", path, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # y = 750 < 897 (weight 2, 4 persons), 900 >= 897, 1000 >= 860
    assert data["fgt"]["person"]["0_exact"] == "4/7"       # 2 x 4 of 14 weighted persons
    assert data["fgt"]["household"]["0"] == 0.5
    lines = {entry["line"]: entry for entry in data["lines"]}
    mp = lines["Tendulkar 2011-12 Madhya Pradesh urban: Rs 897 [official]"]
    assert mp["value"] == 897.0 and mp["households"] == 2 and "Press Note" in mp["source"]
    assert any("Telangana" in name and "Andhra Pradesh" in name for name in lines)


def test_poverty_missing_line_exit_2(tmp_path):
    path = write(tmp_path, "households.csv", "household_id,income_monthly,size,state,sector\n"
                                             "1,3000,4,Madhya Pradesh,urban\n2,3000,4,Uttar Pradesh,rural\n")
    result = run("poverty", path, "--year", "1999-2000", "--method", "Lakdawala")
    assert result.exit_code == 2
    assert "row 3" in result.output and "Uttar Pradesh, rural, 1999-2000, method Lakdawala" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("text, expected", [
    ("household_id,income_monthly,size,line\n1,2000,4,1000\n2,3000,4,1000\n3,4500,four,1000\n",
     "row 4, column size: 'four' is not a whole number"),
    ("household_id,income_monthly,size,line\n1,2000,4,1000\n2,lots,4,1000\n",
     "row 3, column income_monthly: 'lots' is not a number"),
    ("household_id,income_monthly,size,line\n1,2000,0,1000\n", "row 2, column size: '0' must be at least 1"),
    ("household_id,income_monthly,size,line\n1,2000,4,0\n", "row 2, column line: '0' must be greater than 0"),
    ("household_id,income_monthly,size,line\n1,2000,4,1000\n1,2000,4,1000\n",
     "row 3, column household_id: '1' appears twice (first in row 2)"),
    ("household_id,income_monthly,line\n1,2000,1000\n", "missing column(s) size"),
    ("household_id,income_monthly,size\n1,2000,4\n", "needs the column(s) line or state,sector"),
])
def test_poverty_malformed_csv(tmp_path, text, expected):
    path = write(tmp_path, "HOUSEHOLDS.csv", text)
    result = run("poverty", path)
    assert result.exit_code == 2, result.output
    assert "HOUSEHOLDS.csv" in result.output and expected in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


def test_wellbeing_malformed_level(tmp_path):
    path = write(tmp_path, "ratings.csv", "household_id,group_id,level\nH1,A,1\nH1,B,rich\n")
    result = run("wellbeing", path)
    assert result.exit_code == 2
    assert "ratings.csv row 3, column level: 'rich' is not happy, average, sad" in result.output


def test_poverty_unknown_by_column(tmp_path):
    result = run("poverty", write(tmp_path, "h.csv", EXAMPLE_1_CSV), "--by", "caste")
    assert result.exit_code == 2 and "--by caste: no such column" in result.output


CONCORDANCE_CSV = """household_id,category,income_monthly,size,line
1,sad,2000,4,1000
2,average,3000,4,1000
3,sad,4500,5,1000
4,happy,3000,3,1000
5,sad,6000,4,1000
6,average,2400,2,1000
"""


def test_concordance_table_and_json(tmp_path):
    path = write(tmp_path, "conc.csv", CONCORDANCE_CSV)
    result = run("concordance", path)
    assert result.exit_code == 0, result.output
    assert "sad 2 1" in squash(result.output)
    assert "kappa 0.3333 1/3" in squash(result.output)
    data = json.loads(run("concordance", path, "--json").output)["concordance"]
    assert data["sensitivity_exact"] == "2/3" and data["exclusion_error_exact"] == "1/3"
    assert data["table"]["sad"] == {"poor": 2, "not_poor": 1}
    assert data["spearman"] < 0


BASELINE_CSV = """household_id,category,income_monthly,size,line
1,sad,2000,4,1000
2,average,3000,4,1000
3,sad,4500,5,1000
4,happy,3000,3,1000
5,sad,6000,4,1000
"""
FOLLOWUP_CSV = """household_id,category,income_monthly,size,line
1,average,4400,4,1000
2,average,3000,4,1000
3,sad,4000,5,1000
4,average,2000,3,1000
6,happy,6000,4,1000
"""


def test_change_table_and_json(tmp_path):
    before, after = write(tmp_path, "b.csv", BASELINE_CSV), write(tmp_path, "f.csv", FOLLOWUP_CSV)
    result = run("change", before, after)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "4 households placed in both rounds" in out and "improved 1, worsened 1, unchanged 2" in out
    assert "average 0.2500 0.7500 50.00" in squash(out)
    assert "exits from poverty 1, entries 1, stayed poor 2" in out and "McNemar p = 1.0000" in out
    data = json.loads(run("change", before, after, "--json").output)
    assert data["categories"]["matrix"]["sad"] == {"happy": 0, "average": 1, "sad": 1}
    assert data["income"]["delta_person"]["0_exact"] == "-1/16"
    assert data["spells"]["chronic"] == 2


def test_change_without_income_columns(tmp_path):
    before = write(tmp_path, "b.csv", "household_id,category\n1,sad\n2,happy\n")
    after = write(tmp_path, "f.csv", "household_id,category\n1,average\n2,happy\n")
    result = run("change", before, after)
    assert result.exit_code == 0, result.output
    assert "improved 1, worsened 0, unchanged 1" in result.output and "Income side skipped" in result.output
