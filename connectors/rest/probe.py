"""Try a REST system's settings on one page of one resource, and show what happened.

``test_connection`` is a pure function of its arguments (no Django, no database): it builds a
connector from the settings, reads one page, and returns the request as it went out (secrets
masked), the raw answer (its body cut to a size), the records the settings made of it, or
the error and its kind. It never raises for what the system answers or for bad settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ConnectorError
from .client import RestConnector
from .config import settings_errors
from .masking import SecretMasker
from .requester import Exchange

BODY_SHOWN = 4000
PAGE_SIZE = 5


@dataclass(frozen=True)
class ProbeRequest:
    method: str
    url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class ProbeAnswer:
    status: int
    headers: dict[str, str]
    body: str
    truncated: bool


@dataclass(frozen=True)
class ProbeStep:
    request: ProbeRequest
    answer: ProbeAnswer | None  # None: no answer came (timeout, refused connection)


@dataclass(frozen=True)
class ConnectionProbe:
    ok: bool
    # The page request and its answer (the last step); None when settings stopped the test.
    request: ProbeRequest | None
    answer: ProbeAnswer | None
    records: list[Any] = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None
    # Every request in order: a login or a token request comes before the page.
    steps: list[ProbeStep] = field(default_factory=list)


def test_connection(
    settings: dict[str, Any],
    base_url: str,
    token: str | None,
    resource: str,
    *,
    timeout: float = 10.0,
    page_size: int = PAGE_SIZE,
    body_shown: int = BODY_SHOWN,
) -> ConnectionProbe:
    """Fetch one page of ``resource`` with these settings and say what came of it."""
    problems = settings_errors(settings)
    if problems:
        return ConnectionProbe(
            ok=False,
            request=None,
            answer=None,
            error="The settings are not valid: " + "; ".join(problems),
            error_kind="settings",
        )
    connector = RestConnector(base_url, token=token, timeout=timeout, settings=settings)
    connector.requester.exchanges = exchanges = []
    records: list[Any] = []
    error: ConnectorError | None = None
    try:
        records = connector.first_page(resource, page_size=page_size)
    except ConnectorError as exc:
        error = exc
    finally:
        connector.close()
    steps = [_step(exchange, connector.masker, body_shown) for exchange in exchanges]
    last = steps[-1] if steps else None
    return ConnectionProbe(
        ok=error is None,
        request=last.request if last else None,
        answer=last.answer if last else None,
        records=records[:page_size],
        error=connector.masker.text(error.message) if error else None,
        error_kind=error.kind if error else None,
        steps=steps,
    )


# Not a test: pytest would otherwise collect it wherever it is imported into a test module.
test_connection.__test__ = False  # type: ignore[attr-defined]


def _step(exchange: Exchange, masker: SecretMasker, body_shown: int) -> ProbeStep:
    request = ProbeRequest(
        exchange.method, masker.url(exchange.url), masker.headers(exchange.request_headers)
    )
    if exchange.status is None:
        return ProbeStep(request, None)
    body = masker.text(exchange.body)
    answer = ProbeAnswer(
        exchange.status,
        masker.headers(exchange.response_headers),
        body[:body_shown],
        len(body) > body_shown,
    )
    return ProbeStep(request, answer)
