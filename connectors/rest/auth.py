"""How a request proves who sends it: bearer, API key, Basic, OAuth2 client credentials, or a
session from a login call. The one secret a System holds (its token variable) is the bearer
token, the API key, the Basic password, the OAuth2 client secret or the login password;
everything else (user names, client ids, URLs) sits in the settings.

Tokens that are obtained (an access token, a session) are reused until they expire or a
request is refused; then they are obtained again once and the request is sent again once.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import AuthenticationError, ConnectorError, TransientError
from .config import AuthConfig, ErrorConfig
from .errors import decode, error_for
from .masking import SecretMasker
from .records import get_path

if TYPE_CHECKING:
    import httpx

    from .requester import Requester

# An access token this close to its expiry is renewed before it is used.
EXPIRY_MARGIN_SECONDS = 30.0
NO_ERROR_RULES = ErrorConfig(field_errors_path=None, existing_id_path=None)


class Authenticator:
    renewable = False

    def __init__(self, config: AuthConfig, token: str | None, masker: SecretMasker) -> None:
        self.config, self.token, self.masker = config, token, masker
        masker.add_value(token)

    def ensure(self, requester: Requester) -> None:
        """Obtain what requests need (a login, an access token) when it is missing."""

    def apply(self, headers: dict[str, str], params: list[tuple[str, str]]) -> None:
        """Add the credentials to a request about to be sent."""

    def refused(self, response: httpx.Response, error: ConnectorError | None) -> bool:
        return isinstance(error, AuthenticationError)

    def renew(self, requester: Requester) -> None:
        """Obtain fresh credentials after a refusal."""

    def _secret(self, what: str) -> str:
        if not self.token:
            raise AuthenticationError(
                f"Auth {self.config.type}: no {what}. Put it in the environment variable the "
                "system names as its token variable."
            )
        return self.token


class NoAuth(Authenticator):
    pass


class BearerAuth(Authenticator):
    def apply(self, headers: dict[str, str], params: list[tuple[str, str]]) -> None:
        if self.token:  # without a token, requests go out without one, as they always did
            headers["Authorization"] = f"{self.config.prefix or ''} {self.token}".strip()


class ApiKeyAuth(Authenticator):
    def __init__(self, config: AuthConfig, token: str | None, masker: SecretMasker) -> None:
        super().__init__(config, token, masker)
        if config["in"] == "header":
            masker.add_header(config.name)
        else:
            masker.add_param(config.name)

    def apply(self, headers: dict[str, str], params: list[tuple[str, str]]) -> None:
        value = f"{self.config.prefix or ''} {self._secret('API key')}".strip()
        if self.config["in"] == "header":
            headers[self.config.name] = value
        else:
            params.append((self.config.name, value))


class BasicAuth(Authenticator):
    def __init__(self, config: AuthConfig, token: str | None, masker: SecretMasker) -> None:
        super().__init__(config, token, masker)
        self.header = None
        if token:
            pair = f"{config.username}:{token}".encode()
            self.header = "Basic " + base64.b64encode(pair).decode("ascii")
            masker.add_value(self.header.removeprefix("Basic "))

    def apply(self, headers: dict[str, str], params: list[tuple[str, str]]) -> None:
        self._secret("password")
        headers["Authorization"] = self.header or ""


class _ObtainedToken(Authenticator):
    """A token obtained from the system and reused until it expires or is refused."""

    renewable = True

    def __init__(
        self,
        config: AuthConfig,
        token: str | None,
        masker: SecretMasker,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config, token, masker)
        self.clock = clock
        self.obtained: str | None = None
        self.expires_at: float | None = None
        self.logged_in = False
        self._lock = threading.Lock()

    def ensure(self, requester: Requester) -> None:
        with self._lock:
            stale = self.expires_at is not None and self.clock() >= self.expires_at
            if not self.logged_in or stale:
                self._obtain(requester)

    def renew(self, requester: Requester) -> None:
        with self._lock:
            self._obtain(requester)

    def _obtain(self, requester: Requester) -> None:
        self.logged_in = False
        body = self._ask(requester)
        self.logged_in = True
        self.obtained, self.expires_at = self._read(body)
        self.masker.add_value(self.obtained)

    def _ask(self, requester: Requester) -> Any:
        raise NotImplementedError

    def _read(self, body: Any) -> tuple[str | None, float | None]:
        raise NotImplementedError

    def _answer(self, response: httpx.Response, what: str) -> Any:
        error = error_for(response, NO_ERROR_RULES)
        if isinstance(error, TransientError):
            raise error
        if error is not None:
            raise AuthenticationError(
                f"{what} refused: {error.message}",
                status=error.status,
                response_body=error.response_body,
            )
        return decode(response)[0]

    def _token_at(self, body: Any, path: str, what: str) -> str:
        value = get_path(body, path, None)
        if isinstance(value, str | int) and not isinstance(value, bool) and value != "":
            return str(value)
        raise AuthenticationError(
            f"{what} answered without a token at {path!r}.",
            response_body=self.masker.text(str(body)),
        )


class OAuth2ClientCredentials(_ObtainedToken):
    def _ask(self, requester: Requester) -> Any:
        secret = self._secret("client secret")
        form = {"grant_type": "client_credentials"}
        if self.config.scope:
            form["scope"] = self.config.scope
        headers = {}
        if self.config.client_auth == "basic":
            pair = f"{self.config.client_id}:{secret}".encode()
            basic = base64.b64encode(pair).decode("ascii")
            self.masker.add_value(basic)
            headers["Authorization"] = f"Basic {basic}"
        else:
            form |= {"client_id": self.config.client_id, "client_secret": secret}
        response = requester.transmit("POST", self.config.token_url, data=form, headers=headers)
        return self._answer(response, f"The token request to {self.config.token_url}")

    def _read(self, body: Any) -> tuple[str | None, float | None]:
        token = self._token_at(body, self.config.token_path, "The token request")
        lifetime = get_path(body, self.config.expires_in_path, None)
        expires_at = None
        if isinstance(lifetime, int | float) and not isinstance(lifetime, bool):
            expires_at = self.clock() + max(0.0, lifetime - EXPIRY_MARGIN_SECONDS)
        return token, expires_at

    def apply(self, headers: dict[str, str], params: list[tuple[str, str]]) -> None:
        headers["Authorization"] = f"Bearer {self.obtained}"


class SessionLogin(_ObtainedToken):
    def _ask(self, requester: Requester) -> Any:
        body = dict(self.config.body or {})
        if self.config.username is not None:
            body[self.config.username_field] = self.config.username
        body[self.config.password_field] = self._secret("password")
        response = requester.transmit(self.config.method, self.config.login_url, json=body)
        return self._answer(response, f"The login at {self.config.login_url}")

    def _read(self, body: Any) -> tuple[str | None, float | None]:
        if self.config.token_path is None:
            return None, None  # a cookie session: the client's cookie jar carries it
        return self._token_at(body, self.config.token_path, "The login"), None

    def apply(self, headers: dict[str, str], params: list[tuple[str, str]]) -> None:
        if self.obtained is None:
            return
        if self.config.query_param:
            params.append((self.config.query_param, self.obtained))
        else:
            headers[self.config.header] = f"{self.config.prefix or ''} {self.obtained}".strip()

    def refused(self, response: httpx.Response, error: ConnectorError | None) -> bool:
        return response.status_code in self.config.refused_statuses or super().refused(
            response, error
        )


AUTHENTICATORS: dict[str, type[Authenticator]] = {
    "none": NoAuth,
    "bearer": BearerAuth,
    "api_key": ApiKeyAuth,
    "basic": BasicAuth,
    "oauth2_client_credentials": OAuth2ClientCredentials,
    "session": SessionLogin,
}


def build_authenticator(
    config: AuthConfig, token: str | None, masker: SecretMasker
) -> Authenticator:
    return AUTHENTICATORS[config.type](config, token, masker)
