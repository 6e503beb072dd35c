"""scripts/ensure-java, the Java that Spark needs: it finds JAVA_HOME's java or the one on
PATH, refuses one older than 17 by name, and installs only as root with apt-get (here
never: the fake runtimes below answer first)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "ensure-java"


def _fake_java(home: Path, version: str) -> Path:
    """A JAVA_HOME whose bin/java reports ``version`` the way OpenJDK does."""
    java = home / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2025-04-15' >&2\n")
    java.chmod(0o755)
    return java


def _run(*args: str, java_home: Path | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    if java_home is not None:
        env["JAVA_HOME"] = str(java_home)
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("version", ["17.0.15", "21.0.2"])
def test_a_recent_java_home_is_found(tmp_path: Path, version: str) -> None:
    java = _fake_java(tmp_path / "jdk", version)
    for mode in ("path", "ensure"):
        done = _run(mode, java_home=tmp_path / "jdk")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == str(java)


def test_an_old_java_is_refused_by_name(tmp_path: Path) -> None:
    java = _fake_java(tmp_path / "jdk", "11.0.2")
    done = _run("path", java_home=tmp_path / "jdk")
    assert done.returncode == 1
    assert f"{java} is older than Java 17" in done.stderr


def test_an_unknown_mode_is_a_usage_error(tmp_path: Path) -> None:
    done = _run("install-everything", java_home=None)
    assert done.returncode == 1
    assert "usage:" in done.stderr
