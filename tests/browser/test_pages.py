"""Every page an admin reaches renders in a real browser, under the Content Security Policy."""

import pytest
from playwright.sync_api import Page, expect

from review_queue.models import ReviewItem
from tests.browser.helpers import log_in, watch_for_errors
from tests.factories import run_flow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_console_and_admin_pages_render_without_script_or_policy_errors(
    page: Page,
    live_server,
    demo_flow,
    in_process_jobs,
    django_capture_on_commit_callbacks,
    artifacts_dir,
):
    run = run_flow(demo_flow, django_capture_on_commit_callbacks)
    item = ReviewItem.objects.get(source_id="C-0021")
    problems = watch_for_errors(page)

    log_in(page, live_server, "ada", "ada-demo")
    paths = [
        "/sync/",
        f"/sync/runs/{run.pk}/",
        "/queue/",
        "/queue/?kind=target_rejected",
        f"/queue/{item.pk}/",
        "/admin/",
        f"/admin/catalog/fieldmapversion/{demo_flow.field_map.active_version.pk}/change/",
        f"/admin/catalog/dataclass/{demo_flow.data_class.pk}/change/",
        f"/admin/catalog/system/{demo_flow.target_system.pk}/history/",
        "/admin/sync/auditentry/",
    ]
    for path in paths:
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None and response.status == 200, path
        assert response.headers.get("content-security-policy"), path
    expect(page.locator("#result_list")).to_be_visible()
    page.goto(f"{live_server.url}/queue/{item.pk}/")
    expect(page.locator("#target-response")).to_contain_text("E.164")
    page.screenshot(path=str(artifacts_dir / "review-item-rejected-by-target.png"), full_page=True)
    assert problems == [], "\n".join(problems)
