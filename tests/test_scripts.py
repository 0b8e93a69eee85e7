"""The README's test command on a fresh machine: scripts/test finds the system programs the tests need missing.

Each test runs the real scripts/test with a PATH that holds only the few programs the script itself uses (no java,
javac, chromium or chromedriver), an `id` that answers as root or not, and an `apt-get` that only records how it was
called: the machine running the tests is never changed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("bash", "env", "dirname", "sha256sum", "cut", "cat")
MISSING = "default-jdk-headless chromium chromium-driver"


def _machine(tmp_path: Path, uid: int) -> tuple[dict[str, str], Path]:
    """A PATH without the tests' system programs; returns the environment and apt-get's log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    log = tmp_path / "apt-get.log"
    (bin_dir / "id").write_text(f"#!{shutil.which('sh')}\necho {uid}\n")
    (bin_dir / "apt-get").write_text(f'#!{shutil.which("sh")}\necho "$@" >> {log}\n')
    for fake in ("id", "apt-get"):
        (bin_dir / fake).chmod(0o755)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "PYTHON": sys.executable,
           **{k: v for k, v in os.environ.items() if k in ("LANG", "TMPDIR")}}
    return env, log


def _test(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "scripts" / "test"), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def test_as_root_scripts_test_installs_the_missing_programs_with_apt_get(tmp_path):
    env, log = _machine(tmp_path, uid=0)
    result = _test(env, "--version")
    assert result.returncode == 0, result.stderr
    assert f"scripts/test: installing {MISSING} with apt-get" in result.stderr
    assert log.read_text().splitlines() == ["update -qq", f"install -y -qq --no-install-recommends {MISSING}"]


def test_as_another_user_it_says_what_is_missing_and_how_to_install_it(tmp_path):
    env, log = _machine(tmp_path, uid=1000)
    result = _test(env, "--version")
    assert result.returncode == 0, result.stderr                   # pytest itself still runs
    assert f"scripts/test: missing system packages: {MISSING}" in result.stderr
    assert f"apt-get install {MISSING}" in result.stderr
    assert not log.exists()                                         # no install attempted


def test_without_chromium_the_page_tests_fail_saying_so(tmp_path):
    env, _log = _machine(tmp_path, uid=1000)
    result = _test(env, "-q", "-x", "-p", "no:randomly", "-p", "no:cacheprovider", "tests/test_browser.py")
    assert result.returncode == 1
    assert "chromium or chromedriver is not on PATH" in result.stdout


def test_without_a_jdk_the_javarosa_tests_fail_saying_so(tmp_path):
    env, _log = _machine(tmp_path, uid=1000)
    result = _test(env, "-q", "-x", "-p", "no:randomly", "-p", "no:cacheprovider", "tests/test_javarosa_harness.py")
    assert result.returncode == 1
    assert "javac is not on PATH" in result.stdout
