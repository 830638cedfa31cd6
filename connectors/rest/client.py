"""A connector for JSON REST APIs read by keyset.

Conventions: ``GET <resource>?page_size=&updated_since=&after_id=`` answers
``{"results": [...]}`` in (updated_at, id) order, starting strictly after the record
(updated_since, after_id); ``GET <resource>?idempotency_key=`` answers the record a create with
that key made; ``GET/PUT <resource>/<id>``; ``POST <resource>`` with an ``Idempotency-Key``
header; 422 bodies carry ``{"errors": {field: [messages]}}``.
"""

from collections.abc import Iterator
from urllib.parse import quote

from ..base import Capabilities, Position, Record, record_position
from ..errors import ConnectorError
from ..http import RateLimiter, build_client, send


class RestConnector:
    label = "REST (JSON, the simulator's conventions)"
    capabilities = Capabilities(idempotency_keys=True, keyset_order=True)

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        rate_limit_per_second: float | None = None,
        settings: dict | None = None,
    ) -> None:
        self.client = build_client(base_url, token=token, timeout=timeout)
        self.limiter = RateLimiter(rate_limit_per_second)

    def iter_records(
        self, resource: str, *, after: Position | None = None, page_size: int = 50
    ) -> Iterator[Record]:
        position = after
        while True:
            params: dict[str, str | int] = {"page_size": page_size}
            if position is not None:
                params["updated_since"] = position.updated_at
                params["after_id"] = position.record_id
            results = self._results(
                send(self.client, "GET", resource, params=params, limiter=self.limiter), resource
            )
            yield from results
            if len(results) < page_size:
                return
            position = record_position(results[-1]) if isinstance(results[-1], dict) else None
            if position is None:
                raise ConnectorError(
                    f"GET {resource}: cannot page past a record without an id and updated_at.",
                    response_body=results[-1],
                )

    def get(self, resource: str, record_id: str) -> Record:
        return send(self.client, "GET", self._item(resource, record_id), limiter=self.limiter)

    def create(self, resource: str, payload: Record, *, idempotency_key: str) -> Record:
        return send(
            self.client,
            "POST",
            resource,
            json=payload,
            headers={"Idempotency-Key": idempotency_key},
            limiter=self.limiter,
        )

    def find_created(self, resource: str, idempotency_key: str) -> Record | None:
        body = send(
            self.client,
            "GET",
            resource,
            params={"idempotency_key": idempotency_key},
            limiter=self.limiter,
        )
        results = self._results(body, resource)
        return results[0] if results else None

    def update(self, resource: str, record_id: str, payload: Record) -> Record:
        return send(
            self.client, "PUT", self._item(resource, record_id), json=payload, limiter=self.limiter
        )

    def close(self) -> None:
        self.client.close()

    @staticmethod
    def _item(resource: str, record_id: str) -> str:
        return f"{resource}/{quote(str(record_id), safe='')}"

    @staticmethod
    def _results(body: object, resource: str) -> list:
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise ConnectorError(
                f"GET {resource}: expected a page with a 'results' list.", response_body=body
            )
        return body["results"]
