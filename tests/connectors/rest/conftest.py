"""A small real HTTP server per test, answering as the test says: the REST connector is
tested over real HTTP, not against mocks, while the simulator cannot play every API style."""

import json
import socketserver
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest


@dataclass(frozen=True)
class Seen:
    """A request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    json: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Seen], Reply]


class FakeApi:
    def __init__(self) -> None:
        self.handler: Handler = lambda seen: Reply(404, {"detail": "no handler"})
        self.seen: list[Seen] = []
        self._server = _Server(("127.0.0.1", 0), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, handler: Handler) -> None:
        self.handler = handler

    def paths(self) -> list[str]:
        return [f"{seen.method} {seen.path}" for seen in self.seen]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: FakeApi) -> None:
        self.api = api
        super().__init__(address, _Handler)

    def server_bind(self) -> None:  # skip the FQDN look-up, which can stall
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each answer waits for the client's delayed ACK

    def do_GET(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        seen = Seen(
            self.command,
            url.path,
            dict(parse_qsl(url.query, keep_blank_values=True)),
            dict(self.headers.items()),
            body,
        )
        self.server.api.seen.append(seen)
        reply = self.server.api.handler(seen)
        if reply.text is not None:
            payload, kind = reply.text.encode(), "text/html; charset=utf-8"
        elif reply.json is not None:
            payload, kind = json.dumps(reply.json).encode(), "application/json"
        else:
            payload, kind = b"", "application/json"
        self.send_response(reply.status)
        headers = {"Content-Type": kind, **reply.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi()
    yield server
    server.stop()


def contacts(count: int) -> list[dict[str, str]]:
    """``count`` records, listed by id, whose updated_at runs against their id: a reader that
    keeps the server's order gets the engine's order wrong."""
    return [
        {
            "id": f"C-{n:03d}",
            "name": f"Contact {n}",
            "updated_at": f"2026-01-{28 - n % 27:02d}T10:00:00Z",
        }
        for n in range(1, count + 1)
    ]
