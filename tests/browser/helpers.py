from playwright.sync_api import Page


def log_in(page: Page, live_server, username: str, password: str) -> None:
    page.goto(f"{live_server.url}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def watch_for_errors(page: Page) -> list[str]:
    """The page's script errors and console errors (a CSP violation among them), as they come:
    a test asserts the list is empty at its end."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"{page.url}: {message.text}") if message.type == "error" else None
        ),
    )
    return problems
