"""The package layout a maintainer relies on (issue 11, item 7): SQL only in server/storage/, the schemas package
imports nothing of the server, the load tools live in bench/ outside the installed product, and the blueprints
reach the application's store through one accessor (server/context.py)."""

from __future__ import annotations

import ast
import configparser
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DRIVERS = {"sqlite3", "psycopg", "psycopg_pool", "psycopg2"}


def _modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _imported(tree: ast.AST) -> set[str]:
    """Top-level names of every module imported anywhere in the file (inside functions too)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _execute_calls(tree: ast.AST) -> list[int]:
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute) and node.func.attr in {"execute", "executemany", "executescript"}]


def test_no_module_outside_the_storage_package_runs_sql_or_opens_a_driver():
    storage = ROOT / "server" / "storage"
    found = []
    for path in _modules("server", "schemas", "bench"):
        if storage in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        name = path.relative_to(ROOT)
        found += [f"{name}: imports {d}" for d in sorted(_imported(tree) & DRIVERS)]
        found += [f"{name}:{line}: calls .execute" for line in _execute_calls(tree)]
    assert found == []


def test_the_layout_check_sees_sql_where_there_is_some():
    """The check above finds what it looks for: the storage package's engines import their drivers and run SQL."""
    for engine, driver in (("sqlite_engine.py", "sqlite3"), ("postgres_engine.py", "psycopg")):
        tree = ast.parse((ROOT / "server" / "storage" / engine).read_text(encoding="utf-8"))
        assert driver in _imported(tree) and _execute_calls(tree), engine


def test_importing_the_schemas_loads_nothing_of_the_server():
    code = ("import sys, schemas, schemas.qr, schemas.xform; "
            "print(sorted(m for m in sys.modules if m == 'server' or m.startswith('server.')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_product_does_not_import_the_load_tools_or_requests():
    found = [f"{path.relative_to(ROOT)}: {name}" for path in _modules("server", "schemas")
             for name in sorted(_imported(ast.parse(path.read_text(encoding="utf-8"))) & {"bench", "requests"})]
    assert found == []


def test_the_installed_packages_are_the_server_and_the_schemas_only():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    included = setup["options.packages.find"]["include"].split()
    assert sorted(included) == ["schemas", "schemas.*", "server", "server.*"]
    assert "requests" not in setup["options"]["install_requires"]
    assert "requests" in setup["options.extras_require"]["bench"]


def test_load_tools_live_in_bench_and_scripts_run_them_from_there():
    for name in ("benchmark", "benchmark_export", "samples", "serve_process", "slow_clients"):
        assert (ROOT / "bench" / f"{name}.py").is_file() and not (ROOT / "server" / f"{name}.py").exists(), name
    assert '-m bench "$@"' in (ROOT / "scripts" / "bench").read_text()
    assert "-m bench.slow_clients" in (ROOT / "scripts" / "slow_clients").read_text()


def test_only_server_context_reads_the_application_extension():
    """Blueprints reach the store and form cache through server.context; create_app only sets the extension."""
    found = [f"{path.relative_to(ROOT)}: {line.strip()}" for path in _modules("server")
             if path != ROOT / "server" / "context.py"
             for line in path.read_text(encoding="utf-8").splitlines() if "extensions[" in line]
    assert found == ["server/__init__.py: app.extensions[context.EXTENSION] = "
                     "context.PPA(store=store, forms=FormCache(), digest=digest)"]
