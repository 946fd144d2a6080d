"""A pytest plugin that fails the run when a test is skipped for a reason not on an allow-list.

With ``MUSIC2IMG_ALLOWED_SKIPS=FILE`` (``.ci/run`` sets it to ``.ci/allowed_skips``), every skip's reason
must match one of FILE's regular expressions (one a line; ``#`` comments and blank lines ignored);
otherwise the skips are listed and the exit code is 1, even when every test that ran passed. Without
the variable nothing changes (a developer without Chromium still gets a green run with the skips listed).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ENV = "MUSIC2IMG_ALLOWED_SKIPS"
_skips: list[tuple[str, str]] = []


def allowed_patterns(path: str | os.PathLike) -> list[re.Pattern]:
    """The regular expressions of an allow-list file."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [re.compile(line.strip()) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skips.append((report.nodeid, _reason(report)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    allow_file = os.environ.get(ENV)
    if not allow_file:
        return
    patterns = allowed_patterns(allow_file)
    unexpected = [(node, reason) for node, reason in _skips if not any(p.search(reason) for p in patterns)]
    if not unexpected:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    write = reporter.write_line if reporter else print
    write(f"error: {len(unexpected)} test(s) skipped for reasons not allowed by {allow_file}:")
    for node, reason in unexpected:
        write(f"  {node}: {reason}")
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
