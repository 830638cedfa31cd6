"""Secrets kept out of what the connector shows people (a connection test, error messages).

Connectors import no Django app, so this is the connector's own masking: it knows the
secrets by value (the token, a session or access token it obtained, the Basic credentials)
and by place (the headers and query parameters its authentication writes), and masks both.
"""

from collections.abc import Iterable, Mapping
from urllib.parse import unquote_plus, urlsplit, urlunsplit

MASK = "••••••"
ALWAYS_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
SHORTEST_MASKED_VALUE = 4  # masking "a" everywhere would garble the whole text


class SecretMasker:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._headers: set[str] = set(ALWAYS_SECRET_HEADERS)
        self._params: set[str] = set()

    def add_value(self, value: str | None) -> None:
        if value and len(value) >= SHORTEST_MASKED_VALUE:
            self._values.add(value)

    def add_header(self, name: str) -> None:
        self._headers.add(name.lower())

    def add_param(self, name: str) -> None:
        self._params.add(name)

    def text(self, text: str) -> str:
        # Longest first: a secret that contains another is masked whole.
        for value in sorted(self._values, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text

    def headers(self, headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> dict[str, str]:
        items = headers.items() if isinstance(headers, Mapping) else headers
        return {
            name: MASK if name.lower() in self._headers else self.text(value)
            for name, value in items
        }

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.query and self._params:
            pairs = []
            for pair in parts.query.split("&"):
                name = unquote_plus(pair.partition("=")[0])
                pairs.append(f"{pair.partition('=')[0]}={MASK}" if name in self._params else pair)
            parts = parts._replace(query="&".join(pairs))
        return self.text(urlunsplit(parts))
