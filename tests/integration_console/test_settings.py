"""Production settings: safe by default, configured from the environment."""

import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # The test run's own relaxations (tests/settings.py, conftest) must not leak in.
    leaks = ("DEBUG", "SECRET_KEY", "SECURE_", "DJANGO_ALLOW_ASYNC_UNSAFE")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(leaks)}
    clean.update(DJANGO_SETTINGS_MODULE="integration_console.settings", **env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_pass_the_deploy_checks():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY="k" * 20 + "-production-grade-secret-key-0123456789",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_a_secret_key_production_refuses_to_start_and_says_why():
    result = manage("check")
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr
