"""The web UI in a real browser: Debian's chromium, driven by Playwright, against `todo-api serve`.

A user's whole journey, at a desktop and at a phone size: register, add a task with every
field, edit it, complete and reopen it, delete it and undo, filter and page, watch the stats
follow the events, sign out and sign in; and, against a server whose tokens live a minute, a
session that really expires while the tab is open. Every view is checked by axe-core (0
violations), the page may never scroll sideways, and a screenshot of each step is kept in
test-artifacts/browser/<size>/ (the expiry's in <size>-expiry/) with axe's results (axe.json).
The page is served with the cluster's security headers (infra/http_headers.py), so a
Content-Security-Policy violation fails here too. A missing chromium or axe-core fails the
test; it never skips.
"""

from __future__ import annotations

import base64
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Route,
    expect,
    sync_playwright,
)

from bench.processes import GUARD_S, ApiServer, ServiceEnv
from infra.http_headers import SECURITY_HEADERS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CHROMIUM = Path("/usr/bin/chromium")
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = REPO / "test-artifacts" / "browser"
PASSWORD = "correct horse battery"
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
# The UI's page size (app/web/tasks.js) and the tasks the paging steps add through the API.
PAGE_SIZE = 10
SEEDED = 24
# The shortest token lifetime the service takes (TODO_JWT_TTL_MINUTES), for the expiry test.
TOKEN_TTL_S = 60

# Guards only: every wait returns as soon as the page is there (a loaded 2-core machine is slow).
expect.set_options(timeout=GUARD_S * 1000 / 5)


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core as package-lock.json pins it, installed by scripts/bootstrap (`npm ci`)."""
    lock = json.loads((HERE / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/axe-core"]["version"]
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed at {AXE}: run scripts/bootstrap (npm ci)")
    installed = json.loads((AXE.parent / "package.json").read_text())["version"]
    assert installed == pinned, f"axe-core {installed} is installed, the lock pins {pinned}"
    return AXE.read_text()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/bootstrap (Debian package chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> ServiceEnv:
    """The embedded default: SQLite, no broker, events applied in-process."""
    database = tmp_path_factory.mktemp("browser") / "todo.db"
    return ServiceEnv(database_url=f"sqlite:///{database}", redis_url=None, kafka_bootstrap=None)


@pytest.fixture(scope="module")
def server(env: ServiceEnv) -> Iterator[ApiServer]:
    with ApiServer(env, name="browser-api") as api:
        yield api


@pytest.fixture(scope="module")
def short_lived_server(env: ServiceEnv) -> Iterator[ApiServer]:
    """The same service, issuing tokens that expire a minute after sign-in."""
    ttl_minutes = str(TOKEN_TTL_S // 60)
    with ApiServer(env, name="browser-api-short", TODO_JWT_TTL_MINUTES=ttl_minutes) as api:
        yield api


class Journey:
    """One browser tab at one size, with the checks every step makes."""

    def __init__(
        self, page: Page, size: str, axe_source: str, base_url: str, folder: str | None = None
    ) -> None:
        self.page = page
        self.width = SIZES[size][0]
        self.axe_source = axe_source
        self.api = httpx.Client(base_url=f"{base_url}/api/v1", timeout=30)
        self.folder = ARTIFACTS / (folder or size)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.axe: dict[str, Any] = {}
        self.faults: list[str] = []
        # The query of every task list the page asked the API for, in order.
        self.lists: list[dict[str, str]] = []
        page.on(
            "request",
            lambda request: (
                self.lists.append(dict(parse_qsl(urlsplit(request.url).query)))
                if request.method == "GET" and urlsplit(request.url).path == "/api/v1/tasks"
                else None
            ),
        )
        page.on("pageerror", lambda error: self.faults.append(f"uncaught: {error}"))
        page.on(
            "console",
            lambda message: (
                self.faults.append(f"console: {message.text}")
                if "Content Security Policy" in message.text
                else None
            ),
        )

    def step(self, name: str) -> None:
        """axe-core on the page as it is, no sideways scrolling, and a screenshot."""
        page = self.page
        if page.evaluate("typeof window.axe") == "undefined":
            page.evaluate(self.axe_source)
        result = page.evaluate("async () => await axe.run(document)")
        violations = [
            {
                "id": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "targets": [n["target"] for n in v["nodes"]],
            }
            for v in result["violations"]
        ]
        self.axe[name] = {"violations": violations, "passes": len(result["passes"])}
        shot = self.folder / f"{len(self.axe):02d}-{name}.png"
        page.screenshot(path=shot, full_page=True)
        (self.folder / "axe.json").write_text(json.dumps(self.axe, indent=2))
        assert violations == [], f"axe-core, step {name}: {json.dumps(violations, indent=2)}"
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= self.width, f"step {name}: the page is {wide} px wide in {self.width} px"

    def token(self) -> str:
        return str(self.page.evaluate("sessionStorage.getItem('todo.token')"))

    def call(self, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
        return self.api.request(
            method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
        )


def task(page: Page, title: str) -> Locator:
    return page.get_by_role("listitem").filter(
        has=page.get_by_role("heading", name=title, exact=True)
    )


def button(page: Page, name: str) -> Locator:
    return page.get_by_role("button", name=name, exact=True)


def fill_task(
    form: Locator, title: str, description: str, priority: str, due: str, tags: str
) -> None:
    """Every field of the Add form or of an Edit form."""
    form.get_by_label("Title").fill(title)
    form.get_by_label("Description").fill(description)
    form.get_by_label("Priority").select_option(priority)
    form.get_by_label("Due date").fill(due)
    form.get_by_label("Tags").fill(tags)


def stats(page: Page, total: int, pending: int, completed: int) -> None:
    """The numbers the event consumer keeps, as the page polls them."""
    expect(page.locator("#stat-total")).to_have_text(str(total))
    expect(page.locator("#stat-pending")).to_have_text(str(pending))
    expect(page.locator("#stat-completed")).to_have_text(str(completed))


def with_cluster_headers(route: Route) -> None:
    """The page as nginx serves it in the cluster: with its Content-Security-Policy."""
    if route.request.resource_type != "document":
        route.continue_()
        return
    response = route.fetch()
    route.fulfill(response=response, headers={**response.headers, **SECURITY_HEADERS})


def new_tab(browser: Browser, size: str) -> tuple[BrowserContext, Page]:
    """A tab at one of the sizes, its page served as the cluster serves it."""
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(GUARD_S * 1000 / 5)
    page.route("**/*", with_cluster_headers)
    return context, page


@pytest.mark.parametrize("size", list(SIZES))
def test_a_user_journey(size: str, axe_source: str, browser: Browser, server: ApiServer) -> None:
    width = SIZES[size][0]
    context, page = new_tab(browser, size)
    journey = Journey(page, size, axe_source, server.base_url)
    username = f"{size}-{uuid.uuid4().hex[:8]}"
    message = page.locator("#auth-message")
    adder = page.get_by_role("region", name="Add a task")
    filters = page.get_by_role("form", name="Filter tasks")

    # Sign-in; a username the API would refuse is explained in words, with no pattern.
    page.goto(f"{server.base_url}/")
    expect(page.get_by_role("heading", name="Sign in to your tasks")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_focused()
    page.get_by_label("Username").fill("a!")
    page.get_by_label("Password").fill(PASSWORD)
    button(page, "Create account").click()
    expect(message).to_have_text(
        "Usernames are 3 to 64 characters: letters, digits, dots, dashes and underscores."
    )
    journey.step("sign-in-refused")

    # Register: signed in at once, with empty stats.
    page.get_by_label("Username").fill(username)
    button(page, "Create account").click()
    expect(page.get_by_role("heading", name="Your tasks", exact=True)).to_be_focused()
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()
    stats(page, 0, 0, 0)
    journey.step("signed-in")

    # Add with every field; a double click sends it once.
    fill_task(adder, "Buy milk", "Two litres, semi-skimmed", "high", "2030-01-15", "shopping, home")
    button(adder, "Add task").dblclick()
    milk = task(page, "Buy milk")
    expect(milk).to_have_count(1)
    expect(adder.get_by_label("Title")).to_be_focused()
    for shown in ("Two litres, semi-skimmed", "High priority", "Due", "#shopping", "#home"):
        expect(milk).to_contain_text(shown)
    stats(page, 1, 1, 0)
    assert len(journey.call("GET", "/tasks", journey.token()).json()["items"]) == 1

    # A long unbroken title wraps; its buttons stay on screen. An empty one is refused in words.
    long_title = "W" * 200
    adder.get_by_label("Title").fill(long_title)
    adder.get_by_role("button", name="Add task").click()
    delete_long = button(page, f"Delete “{long_title}”")
    expect(delete_long).to_be_visible()
    box = delete_long.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= width, f"Delete ends at {box['x'] + box['width']} px"
    button(adder, "Add task").click()
    expect(adder.get_by_role("alert")).to_have_text("Title is required.")
    expect(adder.get_by_label("Title")).to_be_focused()
    page.keyboard.type("Call mum")
    page.keyboard.press("Enter")
    expect(task(page, "Call mum")).to_have_count(1)
    expect(adder.get_by_text("Title is required.")).to_be_hidden()
    expect(adder.get_by_label("Title")).to_be_focused()
    journey.step("added")

    # Edit: the API's refusal of a character reads as a sentence; then every field changes.
    button(page, "Edit “Buy milk”").click()
    editor = page.get_by_role("form", name="Edit “Buy milk”")
    expect(editor.get_by_label("Title")).to_be_focused()
    editor.get_by_label("Description").fill("Oat \ufffe")
    button(editor, "Save").click()
    expect(editor.get_by_role("alert")).to_have_text(
        "Description contains a character that cannot be stored."
    )
    journey.step("edit-refused")
    fill_task(editor, "Buy oat milk", "Oat, unsweetened", "low", "", "shopping")
    button(editor, "Save").click()
    expect(button(page, "Edit “Buy oat milk”")).to_be_focused()
    oat = task(page, "Buy oat milk")
    expect(oat).to_contain_text("Low priority")
    expect(oat).to_contain_text("Oat, unsweetened")
    expect(oat).not_to_contain_text("Due")
    expect(oat).not_to_contain_text("#home")

    # Complete and reopen, by keyboard; focus stays on the task's toggle.
    button(page, "Complete “Buy oat milk”").focus()
    page.keyboard.press("Enter")
    expect(button(page, "Reopen “Buy oat milk”")).to_be_focused()
    expect(oat).to_contain_text("Done")
    stats(page, 3, 2, 1)
    journey.step("completed")
    page.keyboard.press("Space")
    expect(button(page, "Complete “Buy oat milk”")).to_be_focused()
    stats(page, 3, 3, 0)

    # Delete and undo; then delete for good (Escape or Dismiss on the notice sends it at once).
    button(page, "Delete “Buy oat milk”").click()
    undo = button(page, "Undo deleting “Buy oat milk”")
    expect(undo).to_be_focused()
    expect(oat).to_have_count(0)
    journey.step("deleted-undo-offered")
    page.keyboard.press("Enter")
    expect(button(page, "Delete “Buy oat milk”")).to_be_focused()
    delete_long.click()
    expect(button(page, f"Undo deleting “{long_title}”")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("heading", name="Tasks", exact=True)).to_be_focused()
    button(page, "Delete “Call mum”").focus()
    page.keyboard.press("Enter")
    expect(button(page, "Undo deleting “Call mum”")).to_be_focused()
    page.keyboard.press("Tab")
    expect(button(page, "Dismiss")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Tasks", exact=True)).to_be_focused()
    stats(page, 1, 1, 0)
    assert [t["title"] for t in journey.call("GET", "/tasks", journey.token()).json()["items"]] == [
        "Buy oat milk"
    ]

    # Tasks added elsewhere (the API): the stats follow their events; the list pages.
    seeder = journey.token()
    for n in range(SEEDED):
        body = {
            "title": f"Seed {n:02d}",
            "priority": "high" if n % 3 == 0 else "low",
            "tags": ["batch", "even"] if n % 2 == 0 else ["batch"],
            "status": "completed" if n % 4 == 0 else "pending",
        }
        assert journey.call("POST", "/tasks", seeder, json=body).status_code == 201
    stats(page, SEEDED + 1, SEEDED + 1 - 6, 6)
    button(filters, "Apply filters").click()
    items = page.locator("#task-list > li")
    more = button(page, "Show more tasks")
    expect(items).to_have_count(PAGE_SIZE)
    journey.step("first-page")
    more.click()
    expect(items).to_have_count(2 * PAGE_SIZE)
    expect(button(page, "Complete “Seed 13”")).to_be_focused()
    more.click()
    expect(items).to_have_count(SEEDED + 1)
    expect(more).to_be_hidden()

    # Filters: priority, status with priority, a tag chip, and a tag with priority. The API
    # filters: each page of the list is one request carrying the filters, 10 tasks at a time.
    filters.get_by_label("Priority").select_option("high")
    expect(items).to_have_count(8)
    expect(items.filter(has_text="High priority")).to_have_count(8)
    assert journey.lists[-1] == {"limit": "10", "priority": "high"}
    filters.get_by_label("Status").select_option("completed")
    expect(items).to_have_count(2)
    expect(page.get_by_role("status")).to_have_text("Showing 2 tasks that match the filters.")
    assert journey.lists[-1] == {"limit": "10", "priority": "high", "status": "completed"}
    journey.step("filtered")
    button(filters, "Clear filters").click()
    expect(items).to_have_count(PAGE_SIZE)
    button(task(page, "Seed 22"), "Show tasks tagged “even”").click()
    expect(filters.get_by_label("Tag")).to_have_value("even")
    expect(items).to_have_count(PAGE_SIZE)
    first_page = journey.lists[-1]
    assert first_page == {"limit": "10", "tag": "even"}
    more.click()
    expect(items).to_have_count(12)
    expect(more).to_be_hidden()
    assert journey.lists[-2:] == [first_page, {**first_page, "cursor": journey.lists[-1]["cursor"]}]
    filters.get_by_label("Priority").select_option("high")
    expect(items).to_have_count(4)
    assert journey.lists[-1] == {"limit": "10", "priority": "high", "tag": "even"}
    # Tags match exactly, case included, as the API matches them.
    filters.get_by_label("Tag").fill("EVEN")
    button(filters, "Apply filters").click()
    expect(page.get_by_role("status")).to_have_text("No tasks match these filters.")
    assert journey.lists[-1] == {"limit": "10", "priority": "high", "tag": "EVEN"}
    assert all(query["limit"] == "10" for query in journey.lists), "a page read past its own"

    # Sign out: the token is revoked, not only forgotten.
    signed_in = journey.token()
    button(page, "Sign out").click()
    expect(message).to_have_text("You have signed out.")
    expect(page.get_by_label("Username")).to_be_focused()
    assert journey.call("GET", "/auth/me", signed_in).status_code == 401
    journey.step("signed-out")

    # The name is taken whatever its case; a wrong password; then sign in.
    page.get_by_label("Username").fill(username.upper())
    page.get_by_label("Password").fill(PASSWORD)
    button(page, "Create account").click()
    expect(message).to_have_text(
        "That username is taken. Choose another, or sign in if it is yours."
    )
    page.get_by_label("Password").fill("not the password")
    button(page, "Sign in").click()
    expect(message).to_have_text("Wrong username or password.")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    button(page, "Sign in").click()
    expect(page.get_by_role("heading", name="Your tasks", exact=True)).to_be_focused()
    expect(items).to_have_count(PAGE_SIZE)
    stats(page, SEEDED + 1, SEEDED + 1 - 6, 6)

    assert journey.faults == []
    context.close()


def test_a_session_expires_while_the_tab_is_open(
    axe_source: str, browser: Browser, short_lived_server: ApiServer
) -> None:
    """A real expiry: a token the server issued for a minute, at both sizes at once (so the
    minute is waited once). The page notices on its next call (the stats poll, every 2 s), goes
    back to sign-in and says why in words."""
    journeys = []
    for size in SIZES:
        context, page = new_tab(browser, size)
        journey = Journey(page, size, axe_source, short_lived_server.base_url, f"{size}-expiry")
        page.goto(f"{short_lived_server.base_url}/")
        page.get_by_label("Username").fill(f"{size}-{uuid.uuid4().hex[:8]}")
        page.get_by_label("Password").fill(PASSWORD)
        button(page, "Create account").click()
        expect(page.get_by_role("heading", name="Your tasks", exact=True)).to_be_focused()
        claims = json.loads(base64.urlsafe_b64decode(journey.token().split(".")[1] + "=="))
        assert claims["exp"] - claims["iat"] == TOKEN_TTL_S
        token = journey.token()
        assert journey.call("GET", "/auth/me", token).status_code == 200
        journey.step("signed-in")
        journeys.append((journey, context, token))

    for journey, context, token in journeys:
        page = journey.page
        # Bounded by the token's lifetime, plus a guard for a loaded machine.
        expect(page.locator("#auth-message")).to_have_text(
            "Your session has expired. Please sign in again; your tasks are safe.",
            timeout=(TOKEN_TTL_S + GUARD_S / 5) * 1000,
        )
        expect(page.get_by_label("Username")).to_be_focused()
        expect(page.get_by_role("heading", name="Your tasks", exact=True)).to_be_hidden()
        assert page.evaluate("sessionStorage.getItem('todo.token')") is None
        me = journey.call("GET", "/auth/me", token)
        assert me.status_code == 401
        journey.step("session-expired")
        assert journey.faults == []
        context.close()
