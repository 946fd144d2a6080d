""".ci/run fails instead of skipping: a system package that cannot be installed ends it, and so does a
test skipped for a reason outside .ci/allowed_skips (tests/skip_allowlist.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO
from skip_allowlist import allowed_patterns


def _stub(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def test_ci_fails_when_a_system_package_cannot_be_installed(tmp_path):
    """A machine without Chromium whose apt-get fails: the run stops with an error before installing anything."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "apt-get", 'echo apt-get $* >> "$APT_LOG"; [ "$1" = update ]')  # the package list only
    for tool in ("dirname", "python3"):
        _stub(bin_dir, tool, f'exec {shutil.which(tool)} "$@"')
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(REPO / ".ci" / "run", repo / ".ci" / "run")
    env = {"PATH": str(bin_dir), "APT_LOG": str(tmp_path / "apt.log"), "HOME": str(tmp_path)}
    proc = subprocess.run(["/bin/bash", str(repo / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "error: could not install the Debian package(s) chromium" in proc.stderr
    assert "install -y -qq chromium" in (tmp_path / "apt.log").read_text() and not (repo / ".venv").exists()


def test_ci_installs_ffmpeg_and_runs_the_readme_command_with_the_allow_list():
    script = (REPO / ".ci" / "run").read_text()
    assert "need ffmpeg" in script and "|| echo" not in script
    readme_test = next(line for line in (REPO / "README.md").read_text().splitlines() if "-m pytest" in line)
    assert f"MUSIC2IMG_ALLOWED_SKIPS=.ci/allowed_skips {readme_test.strip()}" in script


def _pytest(tmp_path: Path, allow: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_some.py").write_text(
        "import pytest\n\n"
        "def test_runs():\n    pass\n\n"
        "def test_data():\n    pytest.skip('../shared/data is not beside the repository')\n\n"
        "@pytest.mark.skipif(True, reason='no Chromium at /usr/bin/chromium')\n"
        "def test_browser():\n    pass\n\n"
        "@pytest.mark.xfail(reason='known')\n"
        "def test_known():\n    assert False\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests")}
    env.pop("MUSIC2IMG_ALLOWED_SKIPS", None)
    if allow is not None:
        env["MUSIC2IMG_ALLOWED_SKIPS"] = allow
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "skip_allowlist",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_some.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_skips_outside_the_allow_list_fail_the_run(tmp_path):
    proc = _pytest(tmp_path, str(REPO / ".ci" / "allowed_skips"))
    assert proc.returncode == 1, proc.stdout
    assert "error: 1 test(s) skipped for reasons not allowed" in proc.stdout
    assert "test_some.py::test_browser: no Chromium at /usr/bin/chromium" in proc.stdout
    assert "test_some.py::test_data" not in proc.stdout.split("error:")[1]


def test_allowed_skips_and_no_allow_list_pass(tmp_path):
    assert _pytest(tmp_path, None).returncode == 0
    allow = tmp_path / "allow"
    allow.write_text("# comment\n\n^no Chromium\n" + (REPO / ".ci" / "allowed_skips").read_text())
    assert _pytest(tmp_path, str(allow)).returncode == 0
    assert [p.pattern for p in allowed_patterns(REPO / ".ci" / "allowed_skips")] == [
        r"^\.\./shared/data is not beside the repository$"
    ]
