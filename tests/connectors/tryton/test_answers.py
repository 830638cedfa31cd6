"""How the Tryton connector takes answers a healthy Tryton does not give: a proxy's HTML, empty
bodies, server errors, a session refused for good, nobody listening. Over real HTTP, against a
small server each test scripts."""

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from connectors.errors import AuthenticationError, ConnectorError, TransientError
from connectors.tryton.client import TrytonConnector

SETTINGS = {"database": "erp", "user": "admin"}
LOGIN = (200, {}, json.dumps({"id": 1, "result": [1, "s3ss10n", None]}).encode())
Answer = tuple[int, dict[str, str], bytes]


class ScriptedTryton:
    """Answers ``common.db.login`` as Tryton does, and every other call with ``answer``."""

    def __init__(self, answer: Callable[[dict[str, Any]], Answer]) -> None:
        self.methods: list[str] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                script.methods.append(body["method"])
                status, headers, content = (
                    LOGIN if body["method"] == "common.db.login" else (answer(body))
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def connector(self) -> TrytonConnector:
        return TrytonConnector(self.base_url, token="pw", timeout=5.0, settings=SETTINGS)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[dict[str, Any]], Answer]], ScriptedTryton]]:
    servers: list[ScriptedTryton] = []

    def start(answer: Callable[[dict[str, Any]], Answer]) -> ScriptedTryton:
        servers.append(ScriptedTryton(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


HTML = b"<!doctype html><html><title>Sign in</title><p>Please sign in to the proxy</p></html>"


def test_an_html_page_instead_of_json_rpc_is_a_connector_error_asked_once(scripted):
    server = scripted(lambda body: (200, {"Content-Type": "text/html"}, HTML))

    with pytest.raises(ConnectorError, match="with HTML, not JSON-RPC") as caught:
        server.connector().get("party.party", "1")

    assert not isinstance(caught.value, TransientError)
    assert "Please sign in to the proxy" in caught.value.message
    assert server.methods == ["common.db.login", "model.party.party.read"]


def test_an_empty_answer_is_a_connector_error(scripted):
    server = scripted(lambda body: (200, {}, b""))

    with pytest.raises(ConnectorError, match="empty body") as caught:
        server.connector().get("party.party", "1")
    assert not isinstance(caught.value, TransientError)


def test_server_errors_are_transient_with_their_retry_after(scripted):
    server = scripted(lambda body: (503, {"Retry-After": "7"}, b""))

    with pytest.raises(TransientError) as caught:
        server.connector().get("party.party", "1")
    assert caught.value.retry_after == 7.0


def test_a_session_refused_right_after_login_is_an_authentication_error_after_one_retry(
    scripted,
):
    server = scripted(lambda body: (401, {}, b""))

    with pytest.raises(AuthenticationError, match="just opened"):
        server.connector().get("party.party", "1")
    assert server.methods == [
        "common.db.login",
        "model.party.party.read",
        "common.db.login",
        "model.party.party.read",
    ]


def test_a_batch_that_fails_in_passing_answers_for_all_its_payloads_unsplit(scripted):
    server = scripted(lambda body: (502, {}, b"<html><p>Bad gateway</p></html>"))
    payloads = [{"name": f"P{n}", "code": f"P-{n}"} for n in range(4)]

    answers = server.connector().create_many("party.party", payloads)

    assert all(isinstance(answer, TransientError) for answer in answers)
    assert server.methods.count("model.party.party.create") == 1


def test_a_refused_login_stops_a_batch_without_calling_again(scripted):
    server = scripted(lambda body: (500, {}, b""))
    erp = TrytonConnector(server.base_url, token="", settings=SETTINGS)

    answers = erp.create_many("party.party", [{"name": "A"}, {"name": "B"}])

    assert all(isinstance(answer, AuthenticationError) for answer in answers)
    assert server.methods == []


def test_nobody_listening_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    erp = TrytonConnector(f"http://127.0.0.1:{port}", token="pw", timeout=2.0, settings=SETTINGS)

    with pytest.raises(TransientError):
        erp.get("party.party", "1")
    assert not erp.health().ok
