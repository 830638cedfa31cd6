"""manage.py run_simulator: serve the simulated CRM and ERP until SIGTERM or Ctrl-C.

SIMULATOR_AUTH, if set, is a JSON object of world.Credentials settings: the credentials the
styled APIs (styles.py) accept, instead of the simulator's test defaults.
"""

import errno
import json
import os
import signal
import threading
from types import FrameType

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.simulator.server import make_server
from connectors.simulator.world import Credentials, World


class Command(BaseCommand):
    help = "Serve a simulated CRM (/crm/api) and ERP (/erp/api) over HTTP."
    # Needs neither the database nor the project's checks; starting fast matters for tests.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8100, help="0 picks a free port.")
        parser.add_argument("--seed", type=int, default=42, help="Same seed, same data.")
        parser.add_argument("--contacts", type=int, default=40, help="CRM contacts to seed.")
        parser.add_argument("--token", help="Require 'Authorization: Bearer TOKEN'.")

    def handle(
        self,
        *args: object,
        host: str,
        port: int,
        seed: int,
        contacts: int,
        token: str | None,
        **options: object,
    ) -> None:
        if not 0 <= port <= 65535:
            raise CommandError(f"--port must be between 0 and 65535, not {port}.")
        if contacts < 0:
            raise CommandError(f"--contacts must not be negative, not {contacts}.")
        world = World(seed=seed, contacts=contacts, credentials=_credentials())
        try:
            server = make_server(host, port, world, token)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandError(
                    f"port {port} is already in use on {host}; stop whatever holds it, "
                    "or choose another with --port (0 picks a free one)."
                ) from exc
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc

        def request_shutdown(signum: int, frame: FrameType | None) -> None:
            # shutdown() waits for serve_forever() to return, and serve_forever() runs in
            # this very thread: ask from another one.
            threading.Thread(target=server.shutdown, daemon=True).start()

        signals = (signal.SIGTERM, signal.SIGINT)
        previous = {sig: signal.signal(sig, request_shutdown) for sig in signals}
        try:
            self.stdout.write(f"Simulator listening on http://{host}:{server.server_address[1]}")
            self.stdout.flush()
            # A short poll interval makes shutdown prompt, which test suites notice.
            server.serve_forever(poll_interval=0.1)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            server.server_close()


def _credentials() -> Credentials:
    text = os.environ.get("SIMULATOR_AUTH")
    if not text:
        return Credentials()
    try:
        settings = json.loads(text)
        if not isinstance(settings, dict):
            raise ValueError("it must be a JSON object")
        return Credentials().changed(settings)
    except ValueError as exc:
        raise CommandError(f"SIMULATOR_AUTH is not usable: {exc}") from None
