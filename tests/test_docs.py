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


# -- documents cited exist (issue #14 item 4) ---------------------------------------------------------------------

import re  # noqa: E402

ROOT = Path(__file__).parent.parent
CITING = [ROOT / "README.md", ROOT / "forms" / "README.md", *sorted((ROOT / "docs").glob("*.md")),
          *sorted((ROOT / "server").rglob("*.py")), *sorted((ROOT / "schemas").rglob("*.py")),
          *sorted((ROOT / "tests").glob("*.py")), *sorted((ROOT / "server" / "templates").glob("*.html"))]
# the team's notes, which are not shipped (spelt in pieces so that this file does not cite them itself)
GONE = ("DOMAIN" + ".md", "PROTOCOL" + ".md", "STYLE" + ".md", "../" + "shared", "shared" + "/")


def _cited(text: str) -> list[tuple[str, str]]:
    """(document, section or '') for every docs/*.md the text names, e.g. ('docs/method.md', '4.2')."""
    return re.findall(r"(docs/[\w-]+\.md)(?:,? (?:section )?(\d+(?:\.\d+)?)(?![\d.]*\w))?", text)


def test_every_document_cited_is_in_the_repository_with_the_section_cited():
    missing = []
    for path in CITING:
        if path.name == "test_docs.py":     # its own examples of what the check refuses
            continue
        text = path.read_text(encoding="utf-8")
        for document, section in _cited(text):
            target = ROOT / document
            if not target.exists():
                missing.append(f"{path.relative_to(ROOT)}: {document}")
            elif section and not re.search(rf"^#+ {re.escape(section)}[. ]", target.read_text(encoding="utf-8"),
                                           re.M):
                missing.append(f"{path.relative_to(ROOT)}: {document} section {section}")
        for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text) if path.suffix == ".md" else []:
            if not (path.parent / link).exists():
                missing.append(f"{path.relative_to(ROOT)}: link {link}")
    assert missing == []


def test_nothing_cites_the_teams_notes_that_are_not_in_the_repository():
    found = [f"{path.relative_to(ROOT)}: {gone}" for path in CITING if path.name != "test_docs.py"
             for gone in GONE if gone in path.read_text(encoding="utf-8")]
    assert found == []


def test_the_citation_check_can_fail():
    assert _cited("see docs/method.md 4.2 and docs/nothing.md") == [("docs/method.md", "4.2"), ("docs/nothing.md", "")]
    assert not re.search(r"^#+ 9\.9[. ]", (ROOT / "docs" / "method.md").read_text(encoding="utf-8"), re.M)


# -- the README's researcher example works as written --------------------------------------------------------------

def _block_after(heading: str) -> list[str]:
    """The command lines of the first ```sh block after a README heading."""
    rest = README.split(heading, 1)[1]
    block = rest.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_the_readmes_json_api_example_works_as_written(tmp_path, monkeypatch):
    """The researcher's commands under "### JSON API", run as written: the user, the token, the request."""
    import json
    import shlex

    import requests
    from click.testing import CliRunner

    from server import create_app
    from .conftest import FORMS, LiveServer

    monkeypatch.setenv("PPA_DATA", str(tmp_path))
    monkeypatch.setenv("PPA_LOG_LEVEL", "WARNING")
    assert CliRunner().invoke(main, ["init", "--skip-validate"]).exit_code == 0
    variables: dict[str, str] = {}
    ran = []
    for line in _block_after("### JSON API"):
        words = shlex.split(line, comments=True)
        stdin = None
        if "|" in words:                       # printf '%s\n' 'password' | ppa ...
            pipe = words.index("|")
            assert words[0] == "printf" and words[1] == "%s\\n", line
            stdin, words = words[2] + "\n", words[pipe + 1:]
        if words[0] == ".venv/bin/ppa":
            result = CliRunner().invoke(main, words[1:], input=stdin)
            assert result.exit_code == 0, (line, result.output)
            if words[1:3] == ["token", "create"]:
                variables["TOKEN"] = json.loads(result.output)["token"]
            ran.append(words[1:3])
        elif words[0] == "curl":
            app = create_app({"DATA": str(tmp_path), "LOG_LEVEL": "WARNING", "FORMS": str(FORMS)})
            server = LiveServer(app)
            try:
                header = words[words.index("-H") + 1].replace("$TOKEN", variables["TOKEN"])
                url = words[-1].replace("http://127.0.0.1:8080", server.url)
                name, value = header.split(": ", 1)
                response = requests.get(url, headers={name: value}, timeout=60)
            finally:
                server.stop()
                app.extensions["ppa"].store.close()
            assert response.status_code == 200, response.text
            assert "rows" in response.json()
            ran.append(["curl"])
    assert ran == [["user", "add"], ["token", "create"], ["curl"]]
