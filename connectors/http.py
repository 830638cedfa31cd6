"""The shared httpx client and the translation of HTTP answers into connector errors."""

import functools
import ssl
import threading
import time
from typing import Any

import httpx

from .errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConnectorError,
    NotFoundError,
    RejectedError,
    TransientError,
)

USER_AGENT = "IntegrationConsole/0.1"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client of the process: building one loads the CA bundle,
    which costs some 30 ms, and a connector is built for every run chunk and retry."""
    return ssl.create_default_context()


def build_client(base_url: str, *, token: str | None = None, timeout: float = 10.0) -> httpx.Client:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(
        base_url=base_url.rstrip("/") + "/", headers=headers, timeout=timeout, verify=tls_context()
    )


class RateLimiter:
    """At most ``per_second`` requests a second from one connector (None: no limit), spaced
    evenly so that a system's limit is kept without bursts. Thread-safe; per process."""

    def __init__(self, per_second: float | None, *, clock=time.monotonic, sleep=time.sleep):
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            self._sleep(start - now)


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    limiter: RateLimiter | None = None,
    **kwargs: Any,
) -> Any:
    """Send a request and return its JSON body, or raise the matching ConnectorError."""
    if limiter is not None:
        limiter.wait()
    try:
        response = client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise TransientError(f"{method} {url}: timed out ({exc.__class__.__name__}).") from exc
    except httpx.TransportError as exc:
        raise TransientError(f"{method} {url}: {exc.__class__.__name__}: {exc}.") from exc
    raise_for_status(response)
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise ConnectorError(
            f"{method} {url}: answered {response.status_code} with a body that is not JSON.",
            status=response.status_code,
            response_body=response.text[:2000],
        ) from exc


def raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    body = _body(response)
    where = f"{response.request.method} {response.request.url.path}"
    field_errors = _field_errors(body)
    common = {"status": status, "field_errors": field_errors, "response_body": body}
    if status == 429 or status >= 500:
        raise TransientError(
            f"{where}: {status} {response.reason_phrase}.",
            retry_after=_retry_after(response),
            **common,
        )
    if status in (401, 403):
        raise AuthenticationError(f"{where}: {status} {response.reason_phrase}.", **common)
    if status == 404:
        raise NotFoundError(f"{where}: not found.", **common)
    if status == 409:
        existing = body.get("existing_id") if isinstance(body, dict) else None
        raise AlreadyExistsError(
            f"{where}: already exists.",
            existing_id=str(existing) if existing is not None else None,
            **common,
        )
    raise RejectedError(f"{where}: {status} {response.reason_phrase}.", **common)


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:2000]


def _field_errors(body: Any) -> dict[str, list[str]]:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, dict):
        return {}
    return {
        str(field): [str(m) for m in (messages if isinstance(messages, list) else [messages])]
        for field, messages in errors.items()
    }


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
