"""mypy and ruff as CI checks: the whole suite is what CI runs, so each check is a test that fails
with the tool's own report. Their settings live in pyproject.toml ([tool.mypy], [tool.ruff])."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


def test_mypy_reports_nothing():
    result = _run_tool("mypy")
    assert result.returncode == 0, f"mypy found errors:\n{result.stdout}{result.stderr}"


def test_ruff_reports_nothing():
    result = _run_tool("ruff", "check", "--no-fix", ".")
    assert result.returncode == 0, f"ruff found problems:\n{result.stdout}{result.stderr}"
