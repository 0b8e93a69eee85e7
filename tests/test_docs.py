"""The README is the user's manual: every setting and every CLI command is documented there."""

from pathlib import Path

from server.cli import main
from server.config import SETTINGS

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_configuration_table():
    missing = [s.name for s in SETTINGS if f"| `PPA_{s.name}` |" not in README]
    assert missing == []


def test_quick_start_names_the_two_commands():
    assert "scripts/serve" in README and "scripts/test" in README
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    assert "scripts/test" in ci


def test_every_cli_group_appears_in_the_readme():
    for name in main.commands:
        if name not in {"init", "serve"}:
            assert f"ppa {name}" in README, name
