"""Reset and start the demo world: the simulator, a first sync run, and the console."""

import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from connectors.simulator.runner import start_simulator
from integration_console.demo import DEMO_USERS, seed_demo_world
from integration_console.sync.models import SyncRun
from integration_console.sync.services import sync_run_start, sync_run_wait


class Command(BaseCommand):
    help = (
        "Reset the demo database, start the simulated CRM and ERP, run the demo flow once, "
        "and serve the console."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--simulator-port", type=int, default=8100)
        parser.add_argument(
            "--no-serve",
            action="store_true",
            help="Set up and sync, then stop instead of serving the console.",
        )
        parser.add_argument(
            "--reset-database",
            action="store_true",
            help="Required: the demo empties the database it runs on.",
        )

    def handle(
        self,
        *args,
        host: str,
        port: int,
        simulator_port: int,
        no_serve: bool,
        reset_database: bool,
        **options,
    ) -> None:
        if not reset_database:
            raise CommandError(
                "The demo empties the database it runs on. Run it as `./console demo` (its own "
                "SQLite file), or pass --reset-database if you mean it."
            )
        for taken in (port, simulator_port):
            if not no_serve or taken == simulator_port:
                _require_free(host, taken)
        self.stdout.write("==> Starting the simulated CRM and ERP")
        with _stopped_by_signals(), start_simulator(port=simulator_port, host=host) as simulator:
            self.stdout.write(f"    {simulator.base_url}")
            self.stdout.write("==> Preparing a fresh demo database")
            call_command("migrate", interactive=False, verbosity=0)
            call_command("flush", interactive=False, verbosity=0)
            call_command("collectstatic", interactive=False, verbosity=0)
            flow = seed_demo_world(simulator_url=simulator.base_url)
            self.stdout.write(f"==> Running the flow {flow}")
            run = sync_run_start(flow=flow, triggered_by="demo")
            self._report(sync_run_wait(run_id=run.pk, timeout=120).pk)
            if no_serve:
                return
            self._print_logins(host, port)
            call_command("runserver", f"{host}:{port}", use_reloader=False)

    def _report(self, run_id: int) -> None:
        run = SyncRun.objects.get(pk=run_id)
        if run.status in (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING):
            self.stdout.write("    queued for the RQ workers (REDIS_URL is set); see the console.")
            return
        self.stdout.write(
            f"    {run.get_status_display()}: read {run.read_count}, created {run.created_count}, "
            f"updated {run.updated_count}, skipped {run.skipped_count}, "
            f"failed {run.failed_count} (in the review queue)"
        )
        if run.error:
            raise CommandError(f"The demo run failed: {run.error}")

    def _print_logins(self, host: str, port: int) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Integration Console: http://{host}:{port}/"))
        for user in DEMO_USERS:
            self.stdout.write(f"    {user.role:<15} {user.username} / {user.password}")
        if settings.DEBUG:
            self.stdout.write("    (DEBUG is on: a development run, not for production)")
        self.stdout.write("")


@contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP (a closed terminal) into SystemExit, and SIGINT into
    KeyboardInterrupt, so that the `with` blocks unwind and the simulator is stopped: by default
    SIGTERM ends Python at once and leaves the simulator holding its port. Once one has arrived,
    later ones are ignored while the demo stops. A signal the demo was started ignoring
    (nohup, a background job) stays ignored."""
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(0)  # asked to stop, and stopped cleanly

    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {
        sig: signal.signal(sig, stop) for sig in signals if signal.getsignal(sig) != signal.SIG_IGN
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _require_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise CommandError(
                f"Port {port} on {host} is already in use. Stop what uses it, or pick another "
                "port with --port / --simulator-port."
            ) from None
