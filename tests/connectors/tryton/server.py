"""A throwaway Tryton server, for the Tryton connector's tests and its benchmark.

    with start_tryton() as tryton:
        TrytonConnector(tryton.base_url, token=tryton.password, settings=tryton.settings)

It makes a virtualenv in a temporary folder, installs trytond with the party and country
modules there (the machine's pip configuration and pip's cache apply: nothing special is
passed), creates a SQLite database in the same folder with party activated, starts `trytond`
on a free port, waits until it answers, and creates the countries asked for. All of it lives
in that folder, deleted when the server stops. `TrytonUnavailable` says why a server could not
be had (no package index, say). `BareTryton` speaks JSON-RPC with nothing of the connector: the
tests check through it what Tryton really holds, and the benchmark times it.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

REQUIREMENTS = (
    "trytond==8.2.1",
    "trytond-party==8.2.0",
    "trytond-country==8.2.0",
    "phonenumbers",
)
DATABASE = "ic"
USER = "admin"
PASSWORD = "tryton-admin-secret"
COUNTRIES = {"PT": "Portugal", "ES": "Spain", "FR": "France", "DE": "Germany"}
INSTALL_TIMEOUT = 300.0
ADMIN_TIMEOUT = 120.0
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
# werkzeug's line once trytond listens; trytond is told port 0 and picks a free one.
_LISTENING = re.compile(r"Running on (http://[\d.]+:\d+)")


class TrytonUnavailable(RuntimeError):
    """Tryton could not be installed or started here."""


class TrytonCallError(RuntimeError):
    """A bare JSON-RPC call that Tryton refused; ``error`` is Tryton's ``error`` member."""

    def __init__(self, method: str, error: Any) -> None:
        super().__init__(f"{method}: {error}")
        self.error = error


@dataclass
class RunningTryton:
    base_url: str
    database: str
    password: str
    folder: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    # How long each step of start_tryton() took, in seconds.
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def settings(self) -> dict[str, Any]:
        """A Tryton System's settings for this server."""
        return {"database": self.database, "user": USER}

    def bare(self) -> BareTryton:
        return BareTryton(self.base_url, self.database, USER, self.password)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Terminate trytond (SIGTERM), give it STOP_TIMEOUT seconds, kill it, delete the
        folder."""
        _end(self.process)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> RunningTryton:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class BareTryton:
    """Tryton's JSON-RPC with nothing of the connector: one login, then calls."""

    def __init__(self, base_url: str, database: str, user: str, password: str) -> None:
        self.url = f"{base_url}/{database}/rpc/"
        self.http = httpx.Client(timeout=60)
        self.user = user
        answer = self.http.post(
            self.url,
            json={
                "id": 0,
                "method": "common.db.login",
                "params": [user, {"password": password}, "en"],
            },
        )
        answer.raise_for_status()
        user_id, session = answer.json()["result"][:2]
        self.authorization = "Session " + base64.b64encode(
            f"{user}:{user_id}:{session}".encode()
        ).decode("ascii")

    def call(self, method: str, *params: Any) -> Any:
        answer = self.http.post(
            self.url,
            json={"id": 1, "method": method, "params": list(params)},
            headers={"Authorization": self.authorization},
        )
        answer.raise_for_status()
        body = answer.json()
        if body.get("error") is not None:
            raise TrytonCallError(method, body["error"])
        return body["result"]

    def logout(self, authorization: str) -> None:
        """End the session that ``authorization`` carries, as an expiry would."""
        self.http.post(
            self.url,
            json={"id": 2, "method": "common.db.logout", "params": []},
            headers={"Authorization": authorization},
        ).raise_for_status()

    def close(self) -> None:
        self.http.close()


def start_tryton(countries: dict[str, str] | None = None) -> RunningTryton:
    """Install and start a Tryton with party and country on SQLite, in a new temporary
    folder; raise TrytonUnavailable when it cannot be installed or started."""
    folder = Path(tempfile.mkdtemp(prefix="ic-tryton-"))
    timings: dict[str, float] = {}
    process = None
    try:
        venv = folder / "venv"
        python = venv / "bin" / "python"
        # This interpreter's pip installs into the new virtualenv (pip --python): quicker
        # than giving the virtualenv a pip of its own. Modules are compiled when imported.
        own_pip = importlib.util.find_spec("pip") is not None
        started = time.monotonic()
        _run(
            [sys.executable, "-m", "venv", *(["--without-pip"] if own_pip else []), str(venv)],
            "creating its virtualenv",
            120.0,
        )
        timings["virtualenv"] = time.monotonic() - started
        pip = (
            [sys.executable, "-m", "pip", "--python", str(python)]
            if own_pip
            else [
                str(python),
                "-m",
                "pip",
            ]
        )
        started = time.monotonic()
        _run(
            [*pip, "install", "--quiet", "--no-compile", *REQUIREMENTS],
            f"pip install {' '.join(REQUIREMENTS)}",
            INSTALL_TIMEOUT,
        )
        timings["install"] = time.monotonic() - started

        config, env = _configure(folder)
        started = time.monotonic()
        # On an empty database, -u initialises it (admin's password from TRYTONPASSFILE)
        # and activates party with what it needs (country).
        admin = [str(venv / "bin" / "trytond-admin"), "-c", str(config), "-d", DATABASE]
        _run(
            [*admin, "-u", "party", "--activate-dependencies", "--email", "admin@example.com"],
            "creating its database (trytond-admin)",
            ADMIN_TIMEOUT,
            env=env,
        )
        timings["database"] = time.monotonic() - started

        started = time.monotonic()
        log_path = folder / "trytond.log"
        with log_path.open("wb") as log:
            # Without -d, the first login fails (`{"error": ["'res.user'", ""]}`).
            process = subprocess.Popen(
                [str(venv / "bin" / "trytond"), "-c", str(config), "-d", DATABASE],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=folder,
            )
        base_url = _wait_until_listening(process, log_path)
        timings["start"] = time.monotonic() - started

        tryton = RunningTryton(base_url, DATABASE, PASSWORD, folder, process, log_path, timings)
        bare = tryton.bare()
        try:
            wanted = COUNTRIES if countries is None else countries
            bare.call(
                "model.country.country.create",
                [{"code": code, "name": name} for code, name in wanted.items()],
                {},
            )
        finally:
            bare.close()
        return tryton
    except BaseException:
        if process is not None:
            _end(process)
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _configure(folder: Path) -> tuple[Path, dict[str, str]]:
    databases = folder / "db"
    databases.mkdir()
    (databases / f"{DATABASE}.sqlite").touch()
    password_file = folder / "admin-password"
    password_file.write_text(PASSWORD + "\n")
    config = folder / "trytond.conf"
    config.write_text(
        "[database]\n"
        "uri = sqlite://\n"
        f"path = {databases}\n"
        "[web]\n"
        "listen = 127.0.0.1:0\n"
        "[session]\n"
        # Tryton answers 429 after a few refused logins; the tests refuse some on purpose.
        "max_attempt = 1000\n"
    )
    env = {
        name: value
        for name, value in os.environ.items()
        # TRYTOND_SECTION__OPTION variables would override the config above.
        if not name.startswith("TRYTOND_") and name not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    # On SQLite, Tryton stamps records with the server's local time: make that UTC.
    env.update({"TRYTONPASSFILE": str(password_file), "TZ": "UTC"})
    return config, env


def _run(command: list[str], what: str, timeout: float, env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise TrytonUnavailable(f"{what} took more than {timeout:g} s.") from None
    except OSError as exc:
        raise TrytonUnavailable(f"{what} could not run: {exc}.") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).decode(errors="replace").strip()
        raise TrytonUnavailable(f"{what} failed ({done.returncode}):\n{output[-3000:]}")


def _wait_until_listening(process: subprocess.Popen[bytes], log_path: Path) -> str:
    """The base URL once trytond listens and answers common.server.version."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    base_url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TrytonUnavailable(
                f"trytond exited with code {process.returncode} before it answered:\n"
                + log_path.read_text(errors="replace")[-3000:]
            )
        if base_url is None:
            found = _LISTENING.search(log_path.read_text(errors="replace"))
            base_url = found[1] if found else None
        if base_url is not None:
            try:
                answer = httpx.post(
                    f"{base_url}/rpc/",
                    json={"id": 0, "method": "common.server.version", "params": []},
                    timeout=2,
                )
                if answer.status_code == 200 and "result" in answer.json():
                    return base_url
            except (httpx.HTTPError, ValueError):
                pass
        time.sleep(0.1)
    raise TrytonUnavailable(
        f"trytond did not answer within {STARTUP_TIMEOUT:g} s:\n"
        + log_path.read_text(errors="replace")[-3000:]
    )


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
