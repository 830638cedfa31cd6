"""Run the simulator in a process of its own: start it, wait until it listens, stop it.

    with start_simulator(token="secret") as sim:
        httpx.get(f"{sim.erp_url}/customers", headers={"Authorization": "Bearer secret"})

`manage.py demo` and the tests both run it this way. The subprocess goes through manage.py, so
the management command is exercised too, and it inherits this process's environment
(DJANGO_SETTINGS_MODULE, DEBUG or SECRET_KEY, ...), plus SIMULATOR_AUTH when `auth` is given:
the credentials of the styled APIs (styles.py), kept off the command line. It stays in its
owner's process group: a Ctrl-C at the terminal, or a supervisor stopping the group, reaches it
even if its owner dies before it can stop it.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

BASE_DIR = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
_LISTENING = re.compile(r"Simulator listening on (http://\S+)")


class SimulatorError(RuntimeError):
    pass


class RunningSimulator:
    def __init__(self, process: subprocess.Popen[str], stderr: IO[bytes], base_url: str) -> None:
        self.process = process
        self.base_url = base_url
        self._stderr = stderr

    @property
    def crm_url(self) -> str:
        return f"{self.base_url}/crm/api"

    @property
    def erp_url(self) -> str:
        return f"{self.base_url}/erp/api"

    @property
    def styles_url(self) -> str:
        """Under it, /<style>/crm/contacts and /<style>/erp/customers (styles.py)."""
        return f"{self.base_url}/styles"

    def stop(self) -> None:
        """Terminate (SIGTERM), give it STOP_TIMEOUT seconds, then kill."""
        _end(self.process)
        self._stderr.close()

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def start_simulator(
    seed: int = 42,
    contacts: int = 40,
    token: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    auth: Mapping[str, Any] | None = None,
) -> RunningSimulator:
    """Start `manage.py run_simulator` (on a free port by default), wait until it listens.

    auth: credentials of the styled APIs, as world.Credentials names them, e.g.
    {"api_key": "k", "token_ttl_seconds": 5}; the simulator's test defaults otherwise."""
    command = [
        sys.executable,
        str(BASE_DIR / "manage.py"),
        "run_simulator",
        "--host",
        host,
        "--port",
        str(port),
        "--seed",
        str(seed),
        "--contacts",
        str(contacts),
    ]
    if token is not None:
        command += ["--token", token]
    # A file rather than a pipe: nobody drains stderr while the simulator runs, and a full
    # pipe would block its logging and with it the requests.
    stderr = tempfile.TemporaryFile()
    env = None if auth is None else {**os.environ, "SIMULATOR_AUTH": json.dumps(dict(auth))}
    process = subprocess.Popen(
        command, cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
    )
    assert process.stdout is not None  # narrows the type: stdout=PIPE was passed
    try:
        line = _first_line(process.stdout, STARTUP_TIMEOUT)
    except BaseException:
        # Interrupted while waiting (Ctrl-C, or a signal turned into SystemExit): nobody else
        # holds the process yet, so stop it here rather than leave it on its port.
        _end(process)
        stderr.close()
        raise
    match = _LISTENING.fullmatch(line.strip()) if line else None
    if match:
        return RunningSimulator(process, stderr, match[1])
    _end(process)
    with stderr:
        raise SimulatorError(_startup_failure(process, line, stderr))


def _end(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout:
        process.stdout.close()


def _first_line(stdout: IO[str], timeout: float) -> str | None:
    """The first line of stdout, or None if none came in time."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None


def _startup_failure(process: subprocess.Popen[str], line: str | None, stderr: IO[bytes]) -> str:
    if line is None:
        problem = f"did not report listening within {STARTUP_TIMEOUT:g} s"
    elif line:
        problem = f"printed {line.strip()!r} instead of 'Simulator listening on ...'"
    else:
        problem = f"exited with code {process.returncode} before listening"
    stderr.seek(0)
    output = stderr.read().decode(errors="replace").strip() or "(nothing)"
    return f"The simulator {problem}. Its stderr:\n{output}"
