"""A connector for JSON REST APIs with page-numbered collections.

Conventions: ``GET <resource>?page=&page_size=&updated_since=`` answers
``{"results": [...], "next": <page or null>}``; ``GET/PUT <resource>/<id>``; ``POST <resource>``
with an ``Idempotency-Key`` header; 422 bodies carry ``{"errors": {field: [messages]}}``.
"""

from collections.abc import Iterator
from urllib.parse import quote

from ..base import Record
from ..errors import ConnectorError
from ..http import build_client, send


class RestConnector:
    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 10.0) -> None:
        self.client = build_client(base_url, token=token, timeout=timeout)

    def iter_records(
        self, resource: str, *, updated_since: str | None = None, page_size: int = 50
    ) -> Iterator[Record]:
        page: int | None = 1
        while page is not None:
            params: dict[str, str | int] = {"page": page, "page_size": page_size}
            if updated_since:
                params["updated_since"] = updated_since
            body = send(self.client, "GET", resource, params=params)
            if not isinstance(body, dict) or not isinstance(body.get("results"), list):
                raise ConnectorError(
                    f"GET {resource}: expected a page with a 'results' list.", response_body=body
                )
            yield from body["results"]
            next_page = body.get("next")
            page = int(next_page) if next_page else None

    def get(self, resource: str, record_id: str) -> Record:
        return send(self.client, "GET", f"{resource}/{quote(str(record_id), safe='')}")

    def create(self, resource: str, payload: Record, *, idempotency_key: str) -> Record:
        return send(
            self.client,
            "POST",
            resource,
            json=payload,
            headers={"Idempotency-Key": idempotency_key},
        )

    def update(self, resource: str, record_id: str, payload: Record) -> Record:
        return send(
            self.client, "PUT", f"{resource}/{quote(str(record_id), safe='')}", json=payload
        )

    def close(self) -> None:
        self.client.close()
