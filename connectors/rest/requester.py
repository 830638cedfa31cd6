"""One request to a REST system: URL and query, credentials, rate limit, and the answer judged
by the system's error rules. No retries here beyond one renewal of refused credentials:
retrying transient errors is the engine's business, under its retry policy."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx

from ..errors import RejectedError, TransientError
from ..http import USER_AGENT, tls_context
from ..ratelimit import Limiter
from .auth import build_authenticator
from .config import ErrorConfig, SystemConfig
from .errors import decode, error_for
from .masking import SecretMasker

Params = list[tuple[str, str]]


@dataclass(frozen=True)
class Answer:
    response: httpx.Response
    body: Any


@dataclass(frozen=True)
class Exchange:
    """One request and its answer as they went over the wire (secrets not yet masked)."""

    method: str
    url: str
    request_headers: list[tuple[str, str]]
    status: int | None
    response_headers: list[tuple[str, str]]
    body: str


def split_url(template: str, *groups: Iterable[tuple[str, Any]]) -> tuple[str, Params]:
    """The path of ``template`` and its query merged with ``groups`` of parameters; a later
    group's value replaces an earlier one's of the same name (paging over extra parameters
    over the template's own query), and None drops a parameter."""
    path, _, query = template.partition("?")
    merged: dict[str, str | None] = dict(parse_qsl(query, keep_blank_values=True))
    for group in groups:
        for name, value in group:
            merged[name] = None if value is None else str(value)
    return path, [(name, value) for name, value in merged.items() if value is not None]


def fill_id(template: str, record_id: Any) -> str:
    return template.replace("{id}", quote(str(record_id), safe=""))


class Requester:
    def __init__(
        self,
        base_url: str,
        config: SystemConfig,
        *,
        token: str | None,
        timeout: float,
        limiter: Limiter,
        masker: SecretMasker | None = None,
    ) -> None:
        self.masker = masker or SecretMasker()
        self.client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **config.headers},
            timeout=timeout,
            follow_redirects=config.follow_redirects,
            verify=tls_context(),
        )
        self.limiter = limiter
        self.auth = build_authenticator(config.auth, token, self.masker)
        # A connection test sets a list here to see what went over the wire.
        self.exchanges: list[Exchange] | None = None

    def close(self) -> None:
        self.client.close()

    def resolve(self, url: str) -> httpx.URL:
        """``url`` resolved against the base URL as a browser resolves a link: ``contacts``
        and ``contacts/`` under it, ``/oauth/token`` from the host's root, or absolute."""
        return self.client.base_url.join(url)

    def transmit(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send as is (no credentials added), keeping the rate limit; a timeout or a dropped
        connection is transient. ``params`` join the query ``url`` already has."""
        path, params = split_url(url, params or [])
        request = self.client.build_request(
            method, self.resolve(path), params=params or None, headers=headers, **kwargs
        )
        self.limiter.wait()
        try:
            response = self.client.send(request)
        except httpx.TimeoutException as exc:
            self._record(request, None)
            raise TransientError(f"{method} {path}: timed out ({exc.__class__.__name__}).") from exc
        except httpx.TransportError as exc:
            self._record(request, None)
            raise TransientError(f"{method} {path}: {exc.__class__.__name__}: {exc}.") from exc
        self._record(request, response)
        return response

    def call(
        self,
        method: str,
        url: str,
        *,
        errors: ErrorConfig,
        params: Params | None = None,
        headers: dict[str, str] | None = None,
        json: Any = None,
    ) -> Answer:
        """Send with credentials and judge the answer; raise the ConnectorError it stands for."""
        self.auth.ensure(self)
        for attempt in (1, 2):
            sent_headers, sent_params = dict(headers or {}), list(params or [])
            self.auth.apply(sent_headers, sent_params)
            response = self.transmit(
                method,
                url,
                params=sent_params,
                headers=sent_headers,
                **({"json": json} if json is not None else {}),
            )
            error = error_for(response, errors)
            if attempt == 1 and self.auth.renewable and self.auth.refused(response, error):
                self.auth.renew(self)
                continue
            break
        if response.request.method != method:
            raise RejectedError(
                f"{method} {url} was redirected to {response.request.url}, which made it a "
                f"{response.request.method}: write the URL the server wants in the settings.",
                status=response.history[0].status_code if response.history else None,
            )
        if error is not None:
            raise error
        return Answer(response, decode(response)[0])

    def _record(self, request: httpx.Request, response: httpx.Response | None) -> None:
        if self.exchanges is None:
            return
        if response is not None:
            request = response.request  # the last one, after any redirect
        self.exchanges.append(
            Exchange(
                request.method,
                str(request.url),
                list(request.headers.items()),
                response.status_code if response is not None else None,
                list(response.headers.items()) if response is not None else [],
                response.text if response is not None else "",
            )
        )


def where(answer: Answer) -> str:
    request = answer.response.request
    return f"{request.method} {request.url.path}"
