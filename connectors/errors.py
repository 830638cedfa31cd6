"""The error taxonomy every connector speaks; the sync engine decides what each one becomes."""

from typing import Any


class ConnectorError(Exception):
    """Base of all connector errors. ``field_errors`` maps field -> messages from the system."""

    kind = "connector_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        field_errors: dict[str, list[str]] | None = None,
        response_body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field_errors = field_errors or {}
        self.response_body = response_body


class TransientError(ConnectorError):
    """Worth retrying: timeouts, dropped connections, 5xx, 429."""

    kind = "transient"

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class RejectedError(ConnectorError):
    """The system refused the payload (4xx), usually with field errors."""

    kind = "target_rejected"


class NotFoundError(RejectedError):
    kind = "not_found"


class AlreadyExistsError(RejectedError):
    """A unique key is taken (409); ``existing_id`` names the record that holds it, if known."""

    kind = "already_exists"

    def __init__(self, message: str, *, existing_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.existing_id = existing_id


class AuthenticationError(ConnectorError):
    """Credentials missing or refused (401/403): a configuration problem, not a record's."""

    kind = "authentication"
