"""The pages of a list, by the paging style a resource declares.

Every style answers the same question, "is there a next page, and how is it asked for?":

- ``page_number``: ``?page=&page_size=``; ends at ``next_path`` when it is empty, else when
  the reported total is reached, else on a page shorter than asked.
- ``short_page``: the same parameters for answers that say nothing about the end (bare
  arrays): a page shorter than asked, or an empty one, is the last.
- ``offset``: ``?offset=&limit=``, the offset moving by what each page really held.
- ``cursor``: a token from the body (``cursor_path``) sent back as ``cursor_param``, or a
  whole next URL from the body (``next_url_path``); ends when there is none.
- ``link_header``: RFC 8288 ``Link: <url>; rel="next"``; ends when there is none.
- ``range``: a ``Range: records=0-49`` header (end inclusive or exclusive); the answer's
  ``Content-Range: records 0-49/120`` gives the total; 416 means past the end.
- ``none``: one request answers everything.
(``keyset`` is read by the connector itself: its next page depends on the last record.)

Servers that ignore paging are caught rather than looped on: a page larger than asked is
taken as the whole answer, and a page whose every record was already read, a cursor or a next
URL met before, raise a ConnectorError. A next URL on another host is refused: the
credentials of this system are not sent elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import ConnectorError
from .config import ResourceConfig
from .records import get_path
from .requester import Answer, Params, Requester, split_url

LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")
CONTENT_RANGE = re.compile(r"^\s*(\S+)\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$")


@dataclass(frozen=True)
class Page:
    records: list[Any]
    answer: Answer
    total: int | None


class Pager:
    """Reads the pages of ``resource``'s list, ``page_size`` records at a time (capped by the
    resource's ``max_page_size``), with ``extra`` query parameters (a changed-since bound,
    search parameters). ``key`` tells records apart, to notice a repeated page."""

    def __init__(
        self,
        requester: Requester,
        resource: ResourceConfig,
        *,
        page_size: int,
        extra: Params | None = None,
        key: Callable[[Any], Any] | None = None,
        url: str | None = None,
    ) -> None:
        self.requester, self.resource = requester, resource
        self.pagination = resource.pagination
        cap = self.pagination.max_page_size
        self.size = max(1, min(page_size, cap) if cap else page_size)
        self.extra = list(extra or [])
        # A record is "met again" only when it comes back unchanged: one edited mid-read and
        # met twice is news, a page repeated by a server that ignores paging is not.
        self.key = key or (lambda record: hash(repr(record)))
        self.url = url or resource.list_url
        self.where = f"GET {self.url}"
        self.total: int | None = None
        self.received = 0
        self._seen: set[Any] = set()

    def pages(self) -> Iterator[Page]:
        kind = self.pagination.type
        if kind in ("page_number", "short_page"):
            return self._numbered()
        if kind == "offset":
            return self._offsets()
        if kind == "cursor":
            return self._cursor()
        if kind == "link_header":
            return self._links()
        if kind == "range":
            return self._ranges()
        if kind == "none":
            return self._single()
        raise ConnectorError(f"{self.where}: pagination {kind!r} is read by the connector.")

    def first_page(self) -> Page:
        return next(iter(self.pages()))

    # --- the styles -----------------------------------------------------------------------

    def _numbered(self) -> Iterator[Page]:
        options = self.pagination
        number = options.first_page
        while True:
            page = self._fetch([(options.page_param, number), (options.size_param, self.size)])
            yield page
            if options.type == "page_number" and options.next_path:
                if not get_path(page.answer.body, options.next_path, None):
                    return
            elif self._last(page):
                return
            number += 1

    def _offsets(self) -> Iterator[Page]:
        options = self.pagination
        offset = 0
        while True:
            page = self._fetch([(options.offset_param, offset), (options.limit_param, self.size)])
            yield page
            if self._last(page):
                return
            offset += len(page.records)

    def _cursor(self) -> Iterator[Page]:
        options = self.pagination
        page = self._fetch([(options.size_param, self.size)])
        met: set[str] = set()
        while True:
            yield page
            if not page.records:
                return
            if options.next_url_path:
                following = get_path(page.answer.body, options.next_url_path, None)
                if not following:
                    return
                page = self._follow(str(following), met)
                continue
            token = get_path(page.answer.body, options.cursor_path, None)
            if token in (None, "", False):
                return
            if str(token) in met:
                raise ConnectorError(
                    f"{self.where}: the cursor {token!r} came back again; the server does "
                    f"not move on with {options.cursor_param!r}."
                )
            met.add(str(token))
            page = self._fetch([(options.size_param, self.size), (options.cursor_param, token)])

    def _links(self) -> Iterator[Page]:
        page = self._fetch([(self.pagination.size_param, self.size)])
        met: set[str] = set()
        while True:
            yield page
            following = next_link(page.answer.response, self.pagination.rel)
            if following is None:
                return
            page = self._follow(following, met)

    def _ranges(self) -> Iterator[Page]:
        options = self.pagination
        start = 0
        while True:
            end = start + self.size - (1 if options.end == "inclusive" else 0)
            try:
                page = self._fetch([], headers={options.header: f"{options.unit}={start}-{end}"})
            except ConnectorError as exc:
                if exc.status == 416:  # Range Not Satisfiable: past the last record
                    return
                raise
            yield page
            if self._last(page):
                return
            start += len(page.records)

    def _single(self) -> Iterator[Page]:
        yield self._fetch([])

    # --- one page -------------------------------------------------------------------------

    def _fetch(self, paging: list[tuple[str | None, Any]], headers: dict | None = None) -> Page:
        path, params = split_url(
            self.url,
            self.resource.query,
            self.extra,
            [(name, value) for name, value in paging if name],
        )
        answer = self.requester.call(
            "GET", path, params=params, headers=headers, errors=self.resource.errors
        )
        return self._page(answer)

    def _follow(self, url: str, met: set[str]) -> Page:
        target = self.requester.resolve(url)
        if target.host != self.requester.client.base_url.host:
            raise ConnectorError(
                f"{self.where}: the next page is on another host ({target.host}); this "
                "system's credentials are not sent there."
            )
        if str(target) in met:
            raise ConnectorError(f"{self.where}: the next page {target} came back again.")
        met.add(str(target))
        answer = self.requester.call("GET", str(target), errors=self.resource.errors)
        return self._page(answer)

    def _page(self, answer: Answer) -> Page:
        records = select_records(answer.body, self.resource.records_path, self.where)
        total = self._total(answer)
        if total is not None and self.total is None:
            self.total = total
        keys = [self.key(record) for record in records]
        if records and self.received and all(key in self._seen for key in keys):
            raise ConnectorError(
                f"{self.where}: a page held only records read on earlier pages; the server "
                "ignores the paging parameters. If it answers everything at once, set "
                "pagination type none.",
                response_body=answer.body,
            )
        self._seen.update(keys)
        self.received += len(records)
        return Page(records, answer, total)

    def _total(self, answer: Answer) -> int | None:
        path = self.resource.total_path
        if self.pagination.type == "range" and not path:
            return content_range_total(answer.response)
        if not path:
            return None
        if path.startswith("header:"):
            value: Any = answer.response.headers.get(path.removeprefix("header:").strip())
        else:
            value = get_path(answer.body, path, None)
        try:
            return int(value) if value is not None and not isinstance(value, bool) else None
        except (TypeError, ValueError):
            return None

    def _last(self, page: Page) -> bool:
        """Is ``page`` the last one? Empty, larger than asked (the server ignores the page
        size), the reported total reached, or, with no total, shorter than asked."""
        if not page.records or len(page.records) > self.size:
            return True
        if self.total is not None:
            return self.received >= self.total
        return len(page.records) < self.size


def select_records(body: Any, path: str, where: str) -> list[Any]:
    records = get_path(body, path, None)
    if not isinstance(records, list):
        if path:
            raise ConnectorError(
                f"{where}: expected a page with a {path!r} list.", response_body=body
            )
        raise ConnectorError(f"{where}: expected a JSON array of records.", response_body=body)
    return records


def next_link(response: httpx.Response, rel: str = "next") -> str | None:
    """The target of the RFC 8288 link with relation ``rel`` in the ``Link`` headers."""
    for header in response.headers.get_list("Link"):
        for target, parameters in LINK.findall(header):
            for parameter in parameters.split(";"):
                name, _, value = parameter.strip().partition("=")
                if name.strip().lower() == "rel" and rel in value.strip().strip('"').split():
                    return target
    return None


def content_range_total(response: httpx.Response) -> int | None:
    match = CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    return int(match[4]) if match and match[4] != "*" else None
