"""Each paging style, configured by settings alone, reads every record of a real server."""

import pytest

from connectors.errors import ConnectorError
from connectors.rest.client import RestConnector

from .conftest import Reply, contacts

RECORDS = contacts(23)
ALL_IDS = sorted(r["id"] for r in RECORDS)


def read_ids(api, settings, page_size=5):
    connector = RestConnector(api.url, settings={"resources": {"contacts": settings}})
    try:
        return sorted(r["id"] for r in connector.iter_records("contacts", page_size=page_size))
    finally:
        connector.close()


def window(start, size):
    return RECORDS[start : start + size]


def test_page_numbers_read_until_the_answer_says_there_is_no_next_page(api):
    def handler(seen):
        page, size = int(seen.query["p"]), int(seen.query["per"])
        has_next = page * size < len(RECORDS)
        return Reply(json={"items": window((page - 1) * size, size), "next": has_next})

    api.answer(handler)
    settings = {
        "records_path": "items",
        "pagination": {
            "type": "page_number",
            "page_param": "p",
            "size_param": "per",
            "next_path": "next",
        },
    }

    assert read_ids(api, settings) == ALL_IDS
    assert [s.query["p"] for s in api.seen] == ["1", "2", "3", "4", "5"]


def test_offsets_move_by_what_each_page_really_held(api):
    # The server caps pages at 4 whatever is asked: the offset must follow what came back.
    def handler(seen):
        offset, limit = int(seen.query["offset"]), min(int(seen.query["limit"]), 4)
        return Reply(json={"data": window(offset, limit), "total": len(RECORDS)})

    api.answer(handler)
    settings = {"records_path": "data", "total_path": "total", "pagination": {"type": "offset"}}

    assert read_ids(api, settings) == ALL_IDS
    assert [s.query["offset"] for s in api.seen] == ["0", "4", "8", "12", "16", "20"]


def test_a_cursor_from_the_body_is_sent_back_until_there_is_none(api):
    def handler(seen):
        start = int(seen.query.get("after", "0"))
        size = int(seen.query["limit"])
        following = start + size if start + size < len(RECORDS) else None
        return Reply(json={"records": window(start, size), "meta": {"next_cursor": following}})

    api.answer(handler)
    settings = {
        "records_path": "records",
        "pagination": {
            "type": "cursor",
            "cursor_path": "meta.next_cursor",
            "cursor_param": "after",
        },
    }

    assert read_ids(api, settings) == ALL_IDS
    assert "after" not in api.seen[0].query
    assert [s.query.get("after") for s in api.seen[1:]] == ["5", "10", "15", "20"]


def test_a_next_url_in_the_body_is_followed(api):
    def handler(seen):
        start = int(seen.query.get("from", "0"))
        following = f"{api.url}/contacts?from={start + 5}" if start + 5 < len(RECORDS) else None
        return Reply(json={"results": window(start, 5), "links": {"next": following}})

    api.answer(handler)
    settings = {"pagination": {"type": "cursor", "next_url_path": "links.next"}}

    assert read_ids(api, settings) == ALL_IDS


def test_rfc_8288_link_headers_are_followed_to_the_last_page(api):
    def handler(seen):
        page = int(seen.query.get("page", "1"))
        size = int(seen.query["per_page"])
        links = [f'<{api.url}/contacts?page=1&per_page={size}>; rel="first"']
        if page * size < len(RECORDS):
            links.append(f'<{api.url}/contacts?page={page + 1}&per_page={size}>; rel="next"')
        return Reply(json=window((page - 1) * size, size), headers={"Link": ", ".join(links)})

    api.answer(handler)
    settings = {"records_path": "", "pagination": {"type": "link_header"}}

    assert read_ids(api, settings) == ALL_IDS
    assert len(api.seen) == 5


@pytest.mark.parametrize(
    ("end", "second"), [("inclusive", "records=5-9"), ("exclusive", "records=5-10")]
)
def test_range_headers_ask_for_records_and_content_range_gives_the_total(api, end, second):
    def handler(seen):
        first, last = map(int, seen.header("Range").removeprefix("records=").split("-"))
        last = last if end == "inclusive" else last - 1
        if first >= len(RECORDS):
            return Reply(416, {"detail": "Range Not Satisfiable"})
        chunk = RECORDS[first : last + 1]
        total = f"records {first}-{first + len(chunk) - 1}/{len(RECORDS)}"
        return Reply(206, chunk, headers={"Content-Range": total})

    api.answer(handler)
    settings = {"records_path": "", "pagination": {"type": "range", "end": end}}

    assert read_ids(api, settings) == ALL_IDS
    assert api.seen[1].header("Range") == second


def test_a_range_past_the_end_ends_the_read(api):
    # 20 records, pages of 5: the fifth request is answered 416.
    def handler(seen):
        first = int(seen.header("Range").removeprefix("records=").split("-")[0])
        if first >= 20:
            return Reply(416)
        return Reply(206, RECORDS[first : first + 5])

    api.answer(handler)
    settings = {"records_path": "", "pagination": {"type": "range"}}

    assert len(read_ids(api, settings)) == 20
    assert len(api.seen) == 5


def test_bare_arrays_end_on_a_short_page(api):
    def handler(seen):
        page, size = int(seen.query["page"]), int(seen.query["page_size"])
        return Reply(json=window((page - 1) * size, size))

    api.answer(handler)
    settings = {"records_path": "", "pagination": {"type": "short_page"}}

    assert read_ids(api, settings) == ALL_IDS
    assert len(api.seen) == 5


def test_fewer_records_than_the_source_reports_is_an_error_not_a_short_read(api):
    # The server caps pages at 4 and counts pages in its own size: page 2 starts at record 8.
    def handler(seen):
        page = int(seen.query["page"])
        return Reply(json={"results": window((page - 1) * 4 * 2, 4), "count": len(RECORDS)})

    api.answer(handler)
    settings = {"total_path": "count", "pagination": {"type": "page_number"}}

    with pytest.raises(ConnectorError, match="reports 23 records but its pages held 12"):
        read_ids(api, settings, page_size=8)


def test_a_server_that_ignores_paging_and_answers_everything_is_read_once(api):
    api.answer(lambda seen: Reply(json={"results": RECORDS}))
    settings = {"pagination": {"type": "page_number"}}

    assert read_ids(api, settings, page_size=5) == ALL_IDS
    assert len(api.seen) == 1


def test_a_server_that_repeats_its_page_is_an_error_not_an_endless_loop(api):
    api.answer(lambda seen: Reply(json={"results": RECORDS[:5]}))
    settings = {"pagination": {"type": "page_number"}}

    with pytest.raises(ConnectorError, match="ignores the paging parameters"):
        read_ids(api, settings, page_size=5)


def test_a_cursor_that_comes_back_again_is_an_error(api):
    # New records on every page, but always the same cursor.
    api.answer(lambda seen: Reply(json={"results": window(len(api.seen) * 5, 5), "next": "same"}))
    settings = {"pagination": {"type": "cursor", "cursor_path": "next"}}

    with pytest.raises(ConnectorError, match="came back again"):
        read_ids(api, settings)


def test_a_next_page_on_another_host_is_not_followed_with_our_credentials(api):
    api.answer(
        lambda seen: Reply(
            json=window(0, 5), headers={"Link": '<http://elsewhere.example/p2>; rel="next"'}
        )
    )
    settings = {"records_path": "", "pagination": {"type": "link_header"}}

    with pytest.raises(ConnectorError, match="another host"):
        read_ids(api, settings)


def test_no_pagination_reads_one_answer(api):
    api.answer(lambda seen: Reply(json={"results": RECORDS}))

    assert read_ids(api, {"pagination": {"type": "none"}}) == ALL_IDS
    assert api.seen[0].query == {}


def test_max_page_size_caps_what_is_asked(api):
    api.answer(lambda seen: Reply(json={"results": []}))

    read_ids(api, {"pagination": {"type": "offset", "max_page_size": 3}}, page_size=50)

    assert api.seen[0].query == {"offset": "0", "limit": "3"}
