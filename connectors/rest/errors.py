"""An HTTP answer, judged by a system's error rules, becomes a connector error (or none).

In order: the system's rules (status and/or a pattern in the body; they may also refuse a
2xx, as APIs that answer ``200 {"success": false}`` need), then a redirect that was not
followed (an error that says where it points), then the status as the taxonomy reads it
(429 and 5xx transient, 401/403 auth, 404 not found, 409 already exists, other 4xx
rejected), then a 2xx whose body is not JSON (rejected: a login page is not a record). A
non-JSON error answer keeps the kind of its status, so an HTML 500 is transient and an HTML
400 rejected: nothing is retried because of what its body looks like.

One record's answer inside a batch answer (a status and a JSON body, config.py's ``batch``)
is judged the same way by ``item_error``: the same rules, kinds and messages as a whole answer
with that status and body.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

import httpx

from ..errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConnectorError,
    NotFoundError,
    RejectedError,
    TransientError,
)
from .config import ErrorConfig
from .records import get_path

BODY_KEPT = 2000

KIND_CLASSES: dict[str, type[ConnectorError]] = {
    "transient": TransientError,
    "rejected": RejectedError,
    "already_exists": AlreadyExistsError,
    "not_found": NotFoundError,
    "auth": AuthenticationError,
}


def decode(response: httpx.Response) -> tuple[Any, bool]:
    """The JSON body (None when empty) and whether the body was JSON (an empty one counts)."""
    if not response.content:
        return None, True
    try:
        return response.json(), True
    except ValueError:
        return None, False


@dataclass(frozen=True)
class _Said:
    """An answer as the error rules read it: a whole HTTP answer, or one record's in a batch."""

    status: int
    reason: str
    body: Any  # the JSON body, None when there is none or it is not JSON
    is_json: bool
    text: str  # what a rule's body pattern searches
    content_type: str
    retry_after: float | None

    @property
    def kept(self) -> Any:
        """What an error keeps of the body."""
        return self.body if self.is_json else self.text[:BODY_KEPT]


def error_for(response: httpx.Response, config: ErrorConfig) -> ConnectorError | None:
    """The error ``response`` stands for under ``config``, or None when it is an answer."""
    status = response.status_code
    body, is_json = decode(response)
    said = _Said(
        status,
        response.reason_phrase,
        body,
        is_json,
        response.text,
        response.headers.get("Content-Type", "no content type"),
        retry_after(response),
    )
    where = f"{response.request.method} {response.request.url.path}"
    if error := _by_rules(said, config, where):
        return error
    if 300 <= status < 400:
        location = response.headers.get("Location", "(no Location header)")
        target = (
            str(response.request.url.join(location)) if "Location" in response.headers else location
        )
        return RejectedError(
            f"{where}: answered {status} {response.reason_phrase}, pointing to {target}. Write "
            "that URL in the settings (mind a trailing slash), or set follow_redirects.",
            status=status,
            response_body=said.kept,
        )
    if status >= 400:
        return _error(_kind_of(status), said, config, where)
    if not is_json:
        return RejectedError(
            f"{where}: answered {status} with a body that is not JSON ({said.content_type}).",
            status=status,
            response_body=said.kept,
        )
    return None


def item_error(status: int, body: Any, config: ErrorConfig, where: str) -> ConnectorError | None:
    """The error one record's answer in a batch stands for (``status`` and the JSON ``body``
    a create of that record alone would have been answered with), or None for a 2xx the rules
    let pass. ``where`` names the request as a create of the record alone would
    (``POST /customers``), so that its error reads the same either way."""
    text = json.dumps(body, ensure_ascii=False)
    reason = _reason(status)
    said = _Said(status, reason, body, True, text, "application/json", None)
    if error := _by_rules(said, config, where):
        return error
    if status >= 400:
        return _error(_kind_of(status), said, config, where)
    if not 200 <= status < 300:
        return RejectedError(
            f"{where}: answered {status} {reason} for this record in a batch, neither a "
            "record nor an error.",
            status=status,
            response_body=body,
        )
    return None


def _reason(status: int) -> str:
    """The reason phrase of ``status``, as RFC 9110 names it (a record's answer in a batch has
    no status line of its own to take one from)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return httpx.codes.get_reason_phrase(status)


def _by_rules(said: _Said, config: ErrorConfig, where: str) -> ConnectorError | None:
    for rule in config.rules:
        if rule.matches(said.status, said.text):
            return _error(KIND_CLASSES[rule.kind], said, config, where)
    return None


def _kind_of(status: int) -> type[ConnectorError]:
    if status == 429 or status >= 500:
        return TransientError
    if status in (401, 403):
        return AuthenticationError
    if status == 404:
        return NotFoundError
    if status == 409:
        return AlreadyExistsError
    return RejectedError


def _error(
    cls: type[ConnectorError], said: _Said, config: ErrorConfig, where: str
) -> ConnectorError:
    status, body, is_json = said.status, said.body, said.is_json
    if cls is NotFoundError:
        message = f"{where}: not found."
    elif cls is AlreadyExistsError:
        message = f"{where}: already exists."
    else:
        message = f"{where}: {status} {said.reason}."
    text = get_path(body, config.message_path) if config.message_path and is_json else None
    if isinstance(text, str | int | float) and not isinstance(text, bool) and text != "":
        message += f" {text}"
    if not is_json:
        message += f" (The answer is {said.content_type.split(';')[0]}, not JSON.)"
    common: dict[str, Any] = {
        "status": status,
        "field_errors": field_errors(body, config) if is_json else {},
        "response_body": said.kept,
    }
    if cls is TransientError:
        return TransientError(message, retry_after=said.retry_after, **common)
    if cls is AlreadyExistsError:
        existing = (
            get_path(body, config.existing_id_path, None) if config.existing_id_path else None
        )
        existing_id = (
            None if existing in (None, "") or isinstance(existing, dict | list) else existing
        )
        return AlreadyExistsError(
            message, existing_id=str(existing_id) if existing_id is not None else None, **common
        )
    return cls(message, **common)


def field_errors(body: Any, config: ErrorConfig) -> dict[str, list[str]]:
    """Field -> messages, from ``{field: [messages]}`` or ``[{"field", "message"}]`` at the
    configured path ("" for the body itself, as in ``400 {"email": ["already exists"]}``)."""
    if config.field_errors_path is None:
        return {}
    found = get_path(body, config.field_errors_path, None)
    errors: dict[str, list[str]] = {}
    if isinstance(found, dict):
        for name, messages in found.items():
            if config.field_errors_path == "" and name == config.message_path:
                continue
            if isinstance(messages, list):
                texts = [str(m) for m in messages if isinstance(m, str | int | float)]
            elif isinstance(messages, str):
                texts = [messages]
            else:
                continue  # a number or an object beside the field errors: not one of them
            if texts:
                errors[str(name)] = texts
    elif isinstance(found, list):
        for item in found:
            if not isinstance(item, dict):
                continue
            name = item.get("field", item.get("name", item.get("path")))
            text = item.get("message", item.get("detail", item.get("code")))
            if name is not None and text is not None:
                errors.setdefault(str(name), []).append(str(text))
    return errors


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
