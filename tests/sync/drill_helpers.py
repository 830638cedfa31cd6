"""Processes for the fault drills (tests/sync/test_worker_drills.py): rqworkers killed with
everything they started, a redis-server of the drill's own to kill and start again, and a loop
that stands in for RQ's cron while a run is driven to its end."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import redis

from integration_console.sync.models import RecordLink, SyncRun

BASE_DIR = Path(__file__).resolve().parents[2]
FINISHED = ("succeeded", "succeeded_with_failures", "failed")
POLL_EVERY = 0.1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- process trees ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    pgrp: int
    session: int
    state: str


def process_table() -> dict[int, ProcessInfo]:
    """Every live process on the machine, from /proc/<pid>/stat; zombies are left out."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:  # it ended while we looked
            continue
        # The command name comes in parentheses and may itself hold spaces and parentheses.
        state, ppid, pgrp, session = text[text.rindex(")") + 2 :].split()[:4]
        if state != "Z":
            pid = int(entry.name)
            table[pid] = ProcessInfo(pid, int(ppid), int(pgrp), int(session), state)
    return table


def process_tree(root: int, table: Mapping[int, ProcessInfo], *, follow_parents: bool) -> set[int]:
    """``root`` and what it started: every process in its session (``root`` must be a session
    leader), and with ``follow_parents`` every process whose parent chain leads to it. RQ's work
    horse sits in a process group of its own and outlives its worker, so neither the worker's
    pid nor its process group reaches it."""
    tree = {pid for pid, info in table.items() if info.session == root}
    if follow_parents:
        children: dict[int, list[int]] = {}
        for info in table.values():
            children.setdefault(info.ppid, []).append(info.pid)
        descendants, todo = set(), [root]
        while todo:
            pid = todo.pop()
            if pid not in descendants:
                descendants.add(pid)
                todo.extend(children.get(pid, []))
        tree |= descendants
    return {pid for pid in tree if pid in table}


def wait_until_gone(pids: set[int], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (left := pids & process_table().keys()) and time.monotonic() < deadline:
        time.sleep(0.02)
    if left:
        raise AssertionError(f"processes {sorted(left)} survived SIGKILL for {timeout:g} s")


# --- rqworkers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    worker: int
    pids: frozenset[int]
    horses: frozenset[int]


class RqWorker:
    """One `manage.py rqworker` in a session of its own, so that all it started can be found."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "rqworker", "default", "--with-scheduler"],
            cwd=BASE_DIR,
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pid = self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def horses(self, table: Mapping[int, ProcessInfo] | None = None) -> set[int]:
        """The work horses now running: RQ forks one per job into a process group of its own."""
        table = process_table() if table is None else table
        tree = process_tree(self.pid, table, follow_parents=self.running())
        return {pid for pid in tree if pid != self.pid and table[pid].pgrp == pid}

    def kill_mid_job(self, timeout: float = 10.0) -> Kill:
        """SIGKILL the worker and everything it started, at a moment when a horse is running a
        job. The worker is stopped (SIGSTOP) while we look, so it forks nothing meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            os.kill(self.pid, signal.SIGSTOP)
            table = process_table()
            tree = process_tree(self.pid, table, follow_parents=True)
            horses = self.horses(table)
            if horses or time.monotonic() > deadline:
                break
            os.kill(self.pid, signal.SIGCONT)
            time.sleep(0.01)
        self._kill(tree)
        return Kill(self.pid, frozenset(tree), frozenset(horses))

    def kill(self) -> None:
        """SIGKILL whatever is left of this worker, including a horse it left behind."""
        running = self.running()
        if running:
            os.kill(self.pid, signal.SIGSTOP)
        # Once the worker is reaped its pid may be reused: then only its session is followed.
        self._kill(process_tree(self.pid, process_table(), follow_parents=running))

    def _kill(self, pids: set[int]) -> None:
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        wait_until_gone(pids)
        self._log.close()


class Workers:
    """The drill's rqworkers, one at a time. One that exits by itself is started again, as a
    process supervisor would; at the end every one of them is killed with all it started."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.env = dict(env)
        self.log_dir = log_dir
        self.started: list[RqWorker] = []
        self.exits: list[int | None] = []

    @property
    def current(self) -> RqWorker:
        return self.started[-1]

    def start(self) -> RqWorker:
        log_path = self.log_dir / f"rqworker-{len(self.started) + 1}.log"
        self.started.append(RqWorker(self.env, log_path))
        return self.current

    def restart_if_exited(self) -> None:
        if not self.current.running():
            self.exits.append(self.current.process.returncode)
            self.start()

    def kill_mid_job_and_restart(self) -> Kill:
        kill = self.current.kill_mid_job()
        self.start()
        return kill

    def kill_all(self) -> None:
        for worker in self.started:
            worker.kill()

    def logs(self) -> str:
        return ", ".join(str(worker.log_path) for worker in self.started)


# --- redis-server -------------------------------------------------------------------------


class RedisServer:
    """A throwaway redis-server on a port of its own: nothing persisted, so a restart loses
    every queued job, registry and worker registration, as a Redis without persistence does."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.log_path.parent, stdout=log, stderr=subprocess.STDOUT
            )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"redis-server on port {self.port} did not start; see {self.log_path}"
                    ) from None
                time.sleep(0.05)
            finally:
                client.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown, no chance to save anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


# --- driving a run ------------------------------------------------------------------------


def caused_by_redis_down(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, redis.exceptions.ConnectionError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class CronStandIn:
    """Calls the recovery service every ``every`` seconds, as RQ's cron calls it every minute.
    A call that fails because Redis is down counts as a tick the cron process (which needs
    Redis itself) would have missed; any other error fails the drill."""

    def __init__(self, recover: Callable[[], object], every: float = 1.0) -> None:
        self.recover = recover
        self.every = every
        self.calls = 0
        self.missed = 0
        self.last_error: BaseException | None = None
        self._next = 0.0

    def tick(self) -> None:
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.every
        self.calls += 1
        try:
            self.recover()
        except Exception as exc:
            if not caused_by_redis_down(exc):
                raise
            self.missed += 1
            self.last_error = exc


class RunDriver:
    """Waits on one run while standing in for the cron process and the worker's supervisor."""

    def __init__(self, run_id: int, *, workers: Workers, cron: CronStandIn) -> None:
        self.run_id = run_id
        self.workers = workers
        self.cron = cron

    def until(self, condition: Callable[[], bool], *, timeout: float, waiting_for: str) -> bool:
        """True once ``condition()`` holds; False if the run finished before it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.cron.tick()
            self.workers.restart_if_exited()
            if condition():
                return True
            if self.run().status in FINISHED:
                return False
            time.sleep(POLL_EVERY)
        raise AssertionError(f"Waited {timeout:g} s for {waiting_for} in vain. {self.summary()}")

    def idle(self, seconds: float) -> None:
        """Let ``seconds`` pass, ticking as usual."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.cron.tick()
            self.workers.restart_if_exited()
            time.sleep(POLL_EVERY)

    def to_the_end(self, *, timeout: float) -> SyncRun:
        self.until(lambda: False, timeout=timeout, waiting_for="the run to finish")
        return self.run()

    def run(self) -> SyncRun:
        return SyncRun.objects.get(pk=self.run_id)

    def summary(self) -> str:
        run = self.run()
        linked = RecordLink.objects.filter(flow_id=run.flow_id).count()
        quiet = (
            f"{(time.time() - run.heartbeat_at.timestamp()):.1f} s ago"
            if run.heartbeat_at
            else "never"
        )
        error = f" ({type(self.cron.last_error).__name__}: {self.cron.last_error})"
        return (
            f"Run {run.pk} is {run.status!r} (error: {run.error!r}), last heartbeat {quiet}; "
            f"{linked} records linked. Recovery called {self.cron.calls} times, "
            f"{self.cron.missed} missed{error if self.cron.last_error else ''}. "
            f"{len(self.workers.started)} workers started, {len(self.workers.exits)} exited by "
            f"themselves; logs: {self.workers.logs()}"
        )


def records_linked(flow_id: int) -> int:
    return RecordLink.objects.filter(flow_id=flow_id).count()
