"""`manage.py demo`, as `./console demo` runs it: stopping it stops everything it started."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
# Seconds to migrate a new database, seed, run the flow once and serve: about 8 here; the margin
# is for a loaded machine.
SERVING_WITHIN = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def demo_environment(tmp_path: Path) -> dict[str, str]:
    # The demo's own settings, as `./console demo` sets them; none of the test run's.
    leaks = (
        "DEBUG",
        "SECRET_KEY",
        "SECURE_",
        "DJANGO_",
        "REDIS_URL",
        "DATABASE_URL",
        "IN_PROCESS_JOBS",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(leaks)}
    env.update(
        DJANGO_SETTINGS_MODULE="integration_console.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        DEBUG="1",
        LOG_LEVEL="WARNING",
    )
    return env


def test_sigterm_stops_the_demo_and_frees_the_simulators_port(tmp_path):
    console_port, simulator_port = free_port(), free_port()
    output = tmp_path / "demo.log"
    with output.open("w") as log:
        demo = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "demo",
                "--reset-database",
                "--port",
                str(console_port),
                "--simulator-port",
                str(simulator_port),
            ],
            cwd=BASE_DIR,
            env=demo_environment(tmp_path),
            stdout=log,
            stderr=subprocess.STDOUT,
            # A group of its own, so that whatever it leaves behind can be cleaned up below.
            process_group=0,
        )
    try:
        deadline = time.monotonic() + SERVING_WITHIN
        while not accepts_connections(console_port):
            if demo.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"The demo did not start serving. Its output:\n{output.read_text()}")
            time.sleep(0.1)
        assert not is_free(simulator_port)

        demo.send_signal(signal.SIGTERM)

        assert demo.wait(10) == 0, output.read_text()
        assert is_free(simulator_port), "the simulator outlived the demo"
        assert is_free(console_port)
    finally:
        # Whatever is left of the demo and the simulator it started (same process group).
        try:
            os.killpg(demo.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        demo.wait()
