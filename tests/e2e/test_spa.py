"""The browser SPA end to end: Debian's Chromium (headless, driven by Playwright), the real server.

Two browser contexts are two people. They sign up, one creates a group and adds the other, they
chat both ways live, the server restarts mid-conversation (stop the process, start it again on the
same port and VAR_DIR) and both clients reconnect and resume with no gap and no duplicate.

Screenshots of the key screens go to test-results/screenshots/ (HUDDLE_SCREENSHOTS overrides the
folder; the README's come from `HUDDLE_SCREENSHOTS=docs/screenshots`).
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PIL import Image

from app.db import migrate
from tests.conftest import SECRET
from tests.e2e.media_files import make_test_video
from tests.process import Server, free_port, run_server
from tests.services import postgres_database, redis_namespace, unavailable

pytestmark = pytest.mark.slow
T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("HUDDLE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]
PASSWORD = "correct horse battery"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"  # npm ci (package.json)
AXE_RUN = """async () => {
    const result = await axe.run(document, {runOnly: ["wcag2a", "wcag2aa", "best-practice"]});
    return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target)}`)
}"""
SERVER_ENV = {"BCRYPT_ROUNDS": "4", "LOGIN_RATE_LIMIT": "1000"}
VIEWPORT = {"width": 1180, "height": 720}
# The real-time transports (REALTIME_TRANSPORT): the key flows run on both.
TRANSPORTS = ["ws", "sse"]
# Expected while the server is down, and Chromium's own note that a test's (incognito) context has no
# push service; anything else in the console is a bug (CSP violations included).
EXPECTED_CONSOLE = re.compile(
    r"ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|WebSocket connection to|Failed to load resource"
    r"|does not support the Push API in incognito mode"
)


def screenshot_dir() -> Path:
    folder = Path(os.environ.get("HUDDLE_SCREENSHOTS", ROOT / "test-results" / "screenshots"))
    if not folder.is_absolute():
        folder = ROOT / folder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright  # noqa: PLC0415 -- only these tests need it
    except ImportError:
        unavailable("playwright is not installed (uv sync)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Person:
    """One browser context: a person with their own tab, tokens and socket."""

    def __init__(self, browser: Any, server: Server, name: str, *, audit: bool = True) -> None:
        """`audit`: run the accessibility checks and take the screenshots (a flow run again on the
        other transport skips them: the screens are the same)."""
        self.name = name
        self.audit = audit
        self.email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
        self.server = server
        self.context = browser.new_context(viewport=VIEWPORT)
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.sockets: list[str] = []  # WebSocket URLs the page opened
        self.axe_missing = False
        self.page.on("websocket", lambda socket: self.sockets.append(socket.url))
        self.page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if message.type == "error" and not EXPECTED_CONSOLE.search(message.text):
            self.problems.append(f"console: {message.text}")

    def sign_up(self) -> None:
        page = self.page
        page.goto(f"{self.server.url}/signup")
        page.get_by_label("Name").fill(self.name)
        page.get_by_label("Email").fill(self.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("heading", name=f"Welcome, {self.name}")).to_be_visible()
        self.expect_connected()

    def expect_connected(self, timeout: float = 10_000) -> None:
        expect(self.page.locator(".conn")).to_have_attribute("data-status", "online", timeout=timeout)

    def say(self, group: str, text: str) -> None:
        composer = self.page.get_by_label(f"Message {group}")
        composer.fill(text)
        composer.press("Enter")

    def messages(self) -> Any:
        return self.page.get_by_role("list", name="Messages", exact=True)

    def seqs(self) -> list[int]:
        return [
            int(seq)
            for seq in self.messages()
            .locator("li[data-seq]")
            .evaluate_all("els => els.map(e => e.dataset.seq)")
        ]

    def texts(self) -> list[str]:
        return self.messages().locator("li.msg .text").all_inner_texts()

    def check_accessibility(self, screen: str) -> None:
        """axe-core's WCAG 2 A/AA and best-practice rules on what the page shows now."""
        if not self.audit:
            return
        if not AXE.exists():
            self.axe_missing = True
            return
        self.page.evaluate(AXE.read_text())
        violations = self.page.evaluate(AXE_RUN)
        self.problems.extend(f"accessibility, {screen}: {violation}" for violation in violations)

    def shot(self, name: str) -> None:
        if not self.audit:
            return
        self.page.mouse.move(1, 1)  # no hover toolbar in the picture
        self.page.screenshot(path=str(screenshot_dir() / f"{name}.png"))


def off_the_loop(call: Callable[..., T], *args: Any) -> T:
    """Playwright's sync API keeps an event loop running in this thread; asyncio.run needs another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call, *args).result()


@contextmanager
def production_services() -> Iterator[tuple[str, str, str]]:
    """A fresh PostgreSQL database (migrated) and a Redis key prefix, removed afterwards."""
    stack = ExitStack()
    try:
        url = off_the_loop(stack.enter_context, postgres_database())
        off_the_loop(migrate.upgrade, url)
        redis_url, prefix = stack.enter_context(redis_namespace())
        yield url, redis_url, prefix
    finally:
        off_the_loop(stack.close)


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect  # noqa: PLC0415

    return playwright_expect(target)


def expect_transport(person: Person, transport: str) -> None:
    """The app uses the transport asked for, and opens no WebSocket on SSE."""
    expect(person.page.locator(".conn")).to_have_attribute("data-transport", transport)
    if transport == "sse":
        assert not person.sockets, person.sockets
    else:
        assert any(url.endswith("/ws") or "/ws?" in url for url in person.sockets), person.sockets


def assert_gap_free(person: Person, texts: list[str]) -> None:
    """Every seq once, in order, none missing; every text once."""
    seqs = person.seqs()
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"{person.name} sees seqs {seqs}"
    shown = person.texts()
    for text in texts:
        assert shown.count(text) == 1, f"{person.name} shows {text!r} {shown.count(text)} times: {shown}"


def playback(page: Any) -> dict[str, Any]:
    return dict(
        page.locator("#shared-video").evaluate("v => ({t: v.currentTime, paused: v.paused, src: v.src})")
    )


def make_group(owner: Person, name: str, *others: Person) -> None:
    """The owner creates a group and adds the others by email (by API); each of them opens it."""
    owner.page.get_by_role("button", name="New group").click()
    owner.page.get_by_label("Group name").fill(name)
    owner.page.get_by_role("button", name="Create group").click()
    expect(owner.page.get_by_role("heading", name=name)).to_be_visible()
    for other in others:
        owner.page.evaluate(
            "async (email) => { const app = window.huddle; "
            "await app.api.post(`/api/v1/groups/${app.store.openGroupId}/members`, {email}); }",
            other.email,
        )
        other.page.get_by_role("link", name=re.compile(re.escape(name))).click()
        expect(other.page.get_by_role("heading", name=name)).to_be_visible()


def expect_following(
    follower: Person, leader: Person, *, paused: bool, tolerance: float, near: float | None = None
) -> None:
    """The follower's player reaches the leader's state (playing or paused) and position."""
    deadline = time.monotonic() + 10
    while True:
        lead, follow = playback(leader.page), playback(follower.page)
        together = abs(follow["t"] - lead["t"]) <= tolerance
        there = near is None or abs(follow["t"] - near) <= tolerance
        if follow["paused"] == paused == lead["paused"] and together and there:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{follower.name} at {follow}, {leader.name} at {lead} (paused={paused})")
        time.sleep(0.1)


def watch_together(ada: Person, bo: Person, group: str, folder: Path) -> None:
    """Ada uploads a short video and plays it for everyone; Bo opens his player and it follows her
    play, pause and seek, and after a reload (a late joiner) reopens where the group is."""
    video = make_test_video(folder)
    ada.page.get_by_role("button", name="Watch together").click()
    ada.page.get_by_label("Video file to upload").set_input_files(video)
    ada.page.get_by_role("button", name="Upload", exact=True).click()
    expect(ada.page.locator("#upload-progress-text")).to_have_text(f"{video.name} uploaded.")
    expect(ada.page.locator("#upload-progress")).to_have_attribute("value", "100")
    ada.page.get_by_role("button", name=f"Play {video.name} for everyone").click()

    # Bo's player stays his to open: the header says the group is playing; opening joins it.
    expect(bo.page.locator("#watch-hint")).to_have_text(f"Playing now: {video.name} · Ada watching")
    bo.page.get_by_role("button", name="Watch together").click()
    expect(bo.page.locator("#player")).to_be_visible()
    expect(bo.page.get_by_role("button", name=f"Play {video.name} for everyone")).to_be_visible()
    expect_following(bo, ada, paused=False, tolerance=0.5)
    ada.page.locator("#shared-video").evaluate("v => v.pause()")
    expect_following(bo, ada, paused=True, tolerance=0.15)
    ada.page.locator("#shared-video").evaluate("v => { v.currentTime = 6; }")
    expect_following(bo, ada, paused=True, tolerance=0.15, near=6)
    ada.page.locator("#shared-video").evaluate("v => v.play()")
    expect_following(bo, ada, paused=False, tolerance=0.5)
    ada.page.get_by_label("Speed").select_option("1.5")
    expect(bo.page.get_by_label("Speed")).to_have_value("1.5")
    rate = bo.page.locator("#shared-video").evaluate("v => v.playbackRate")
    assert 1.5 * 0.92 <= rate <= 1.5 * 1.08  # the group's rate, give or take a drift nudge
    bo.shot("watch-together")  # the follower: its drift line shows how close it keeps
    ada.check_accessibility("watch together")

    bo.page.reload()  # a late joiner: starts at the group's position, already playing
    expect(bo.page.locator("#player")).to_be_visible()
    expect_following(bo, ada, paused=False, tolerance=0.5)
    assert playback(bo.page)["t"] > 6

    # Ada renames the video while it plays: everyone's library shows the new name, the group keeps
    # watching, and a late joiner finds it under that name. Then she deletes it: the players stop.
    ada.page.get_by_role("button", name=f"Rename {video.name}").click()
    ada.page.get_by_role("dialog").get_by_label("New video name").fill("Our film.mp4")
    ada.page.get_by_role("dialog").get_by_role("button", name="Rename").click()
    expect(bo.page.get_by_role("button", name="Play Our film.mp4 for everyone")).to_be_visible()
    expect(bo.page.get_by_role("button", name="Rename Our film.mp4")).to_have_count(0)  # Ada's to manage
    expect(ada.page.locator(".player-status")).to_contain_text("Playing for the group · Our film.mp4")
    bo.page.reload()
    expect(bo.page.locator("#player")).to_be_visible()
    expect_following(bo, ada, paused=False, tolerance=0.5)
    ada.page.get_by_role("button", name="Delete Our film.mp4").click()
    ada.page.get_by_role("dialog").get_by_role("button", name="Delete video").click()
    for person in (ada, bo):
        expect(person.page.get_by_text("No videos yet. Upload one to watch it together.")).to_be_visible()
        expect(person.page.locator("#shared-video")).not_to_have_attribute("src", re.compile("."))
        assert playback(person.page)["paused"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_two_people_chat_live_and_resume_after_a_server_restart(
    browser: Any, tmp_path: Path, transport: str
) -> None:
    port = free_port()
    env = SERVER_ENV | {"REALTIME_TRANSPORT": transport}
    with run_server(tmp_path, PORT=str(port), **env) as server:
        audit = transport == "ws"
        ada, bo = Person(browser, server, "Ada", audit=audit), Person(browser, server, "Bo", audit=audit)
        ada.page.goto(f"{server.url}/")
        expect(ada.page.get_by_role("heading", name="Sign in to Huddle")).to_be_visible()
        ada.shot("signin")
        ada.check_accessibility("sign in")
        ada.sign_up()
        bo.sign_up()

        # Ada creates a group and adds Bo by email; Bo sees it appear without reloading.
        ada.page.get_by_role("button", name="New group").click()
        ada.page.get_by_label("Group name").fill("Movie night")
        ada.page.get_by_role("button", name="Create group").click()
        expect(ada.page.get_by_role("heading", name="Movie night")).to_be_visible()
        expect(ada.page.get_by_label("Message Movie night")).to_be_focused()
        ada.page.get_by_role("button", name="Members").click()
        ada.page.get_by_label("Add by email").fill(bo.email)
        ada.page.get_by_role("button", name="Add", exact=True).click()
        expect(ada.page.locator(".member-list")).to_contain_text("Bo")
        link = bo.page.get_by_role("link", name=re.compile("Movie night"))
        expect(link).to_be_visible()
        expect(link.locator(".badge")).to_have_text("1")  # the "Bo was added" event is unread
        link.click()
        expect(bo.page.get_by_role("heading", name="Movie night")).to_be_visible()
        expect(link.locator(".badge")).to_have_count(0)

        # Live, both ways; typing and online presence show on the other side.
        ada.say("Movie night", "Hello Bo!")
        expect(bo.messages()).to_contain_text("Hello Bo!")
        bo.page.get_by_label("Message Movie night").press_sequentially("Hi Ada", delay=20)
        expect(ada.page.locator("#typing")).to_have_text("Bo is typing…")
        bo.page.get_by_label("Message Movie night").press("Enter")
        expect(ada.messages()).to_contain_text("Hi Ada")
        expect(ada.page.locator("#chat-subtitle")).to_contain_text("2 online")
        expect(ada.page.locator(".receipt")).to_have_text("Seen by Bo")
        ada.shot("chat")

        # Keyboard only: the conversation is one Tab stop, arrows move between messages, Tab reaches
        # the focused message's actions, Escape cancels a reply.
        bo.page.locator(".messages").focus()
        bo.page.keyboard.press("End")
        bo.page.keyboard.press("ArrowUp")
        expect(bo.messages().locator("li.msg", has_text="Hello Bo!")).to_be_focused()
        bo.page.keyboard.press("Tab")
        expect(bo.messages().get_by_role("button", name="Reply").first).to_be_focused()
        bo.page.keyboard.press("Enter")
        expect(bo.page.locator(".reply-banner")).to_contain_text("Replying to Ada")
        expect(bo.page.get_by_label("Message Movie night")).to_be_focused()
        bo.page.keyboard.press("Escape")
        expect(bo.page.locator(".reply-banner")).to_be_hidden()
        ada.check_accessibility("chat with members")

        # A reply, a reaction, and an edit reach the other side.
        bo_message = ada.messages().locator("li.msg", has_text="Hi Ada")
        bo_message.hover()
        bo_message.get_by_role("button", name="Reply").click()
        ada.say("Movie night", "Popcorn is ready")
        reply = bo.messages().locator("li.msg", has_text="Popcorn is ready")
        expect(reply.locator(".reply-ref")).to_contain_text("Hi Ada")
        reply.hover()
        reply.get_by_role("button", name="React").click()
        bo.page.get_by_role("button", name="React with 🎉").click()
        expect(
            ada.messages().locator("li.msg", has_text="Popcorn is ready").locator(".reaction")
        ).to_have_text("🎉 1")
        own = ada.messages().locator("li.msg", has_text="Hello Bo!")
        own.hover()
        own.get_by_role("button", name="Edit").click()
        ada.page.get_by_label("Edit message").fill("Hello Bo! (edited)")
        ada.page.get_by_label("Edit message").press("Enter")
        expect(
            bo.messages().locator("li.msg", has_text="Hello Bo! (edited)").locator(".edited")
        ).to_be_visible()

        # Delete (after confirming) leaves a tombstone on both sides; "Seen by" lists the readers.
        ada.say("Movie night", "Oops, wrong chat")
        oops = ada.messages().locator("li.msg", has_text="Oops, wrong chat")
        expect(bo.messages()).to_contain_text("Oops, wrong chat")
        oops.hover()
        oops.get_by_role("button", name="Delete").click()
        ada.page.get_by_role("dialog").get_by_role("button", name="Delete").click()
        expect(bo.messages()).not_to_contain_text("Oops, wrong chat")
        expect(bo.messages()).to_contain_text("This message was deleted.")
        popcorn = ada.messages().locator("li.msg", has_text="Popcorn is ready")
        popcorn.hover()
        popcorn.get_by_role("button", name="Seen by").click()
        expect(ada.page.get_by_role("dialog", name="Seen by")).to_contain_text("Bo")
        ada.page.get_by_role("dialog").get_by_role("button", name="Close").click()
        expect(popcorn.get_by_role("button", name="Seen by")).to_be_focused()

        # The server restarts mid-conversation; a message written meanwhile waits for the connection.
        server.stop()
        expect(ada.page.locator(".conn")).not_to_have_attribute("data-status", "online")
        expect(bo.page.locator(".conn")).not_to_have_attribute("data-status", "online")
        ada.say("Movie night", "Are you still there?")
        expect(ada.page.locator(".pending-list")).to_contain_text("Are you still there?")
        ada.shot("reconnecting")

        with run_server(tmp_path, PORT=str(port), **env):
            ada.expect_connected(timeout=25_000)
            bo.expect_connected(timeout=25_000)
            expect(bo.messages()).to_contain_text("Are you still there?")
            expect(ada.page.locator(".pending-list li")).to_have_count(0)
            bo.say("Movie night", "Yes, back again")
            ada.say("Movie night", "Great, let's go on")
            expect(ada.messages()).to_contain_text("Yes, back again")
            expect(bo.messages()).to_contain_text("Great, let's go on")

            texts = [
                "Hello Bo! (edited)",
                "Hi Ada",
                "Popcorn is ready",
                "Are you still there?",
                "Yes, back again",
                "Great, let's go on",
            ]
            for person in (ada, bo):
                assert_gap_free(person, texts)
            assert ada.seqs() == bo.seqs()

            # After a reload the tab signs itself back in (refresh token) and shows the same history.
            bo.page.reload()
            expect(bo.page.get_by_role("heading", name="Movie night")).to_be_visible()
            expect(bo.messages()).to_contain_text("Great, let's go on")
            assert_gap_free(bo, texts)

            watch_together(ada, bo, "Movie night", tmp_path)

            # Sign out ends the session: the app goes back to the sign-in page.
            bo.page.get_by_role("button", name="Sign out").click()
            expect(bo.page.get_by_role("heading", name="Sign in to Huddle")).to_be_visible()
            expect_transport(ada, transport)

        for person in (ada, bo):
            assert not person.problems, person.problems
            person.context.close()
        if ada.axe_missing:
            unavailable("axe-core is not installed (npm ci): accessibility not checked")


def test_direct_chat_history_scroll_and_members_on_postgres_and_redis(browser: Any, tmp_path: Path) -> None:
    """The production shape (PostgreSQL, Redis, 2 workers): the two people may sit on different workers."""
    with production_services() as (url, redis_url, prefix):
        env = SERVER_ENV | {
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": prefix,
            "SECRET_KEY": SECRET,
            "WORKERS": "2",
        }
        with run_server(tmp_path, **env) as server:
            ada, bo = Person(browser, server, "Ada"), Person(browser, server, "Bo")
            ada.sign_up()
            bo.sign_up()

            # Bo finds Ada by email and starts a direct chat; it appears on Ada's side, unread.
            bo.page.get_by_role("button", name="Direct chat").click()
            bo.page.get_by_label("Find a person").fill(ada.email)
            bo.page.get_by_role("button", name="Ada", exact=True).click()
            expect(bo.page.get_by_role("heading", name="Ada")).to_be_visible()
            bo.say("Ada", "Hi from a direct chat")
            direct = ada.page.get_by_role("link", name=re.compile(r"^Bo\b"))
            expect(direct.locator(".badge")).to_have_text("1")
            direct.click()
            expect(ada.messages()).to_contain_text("Hi from a direct chat")
            expect(ada.page.locator("#chat-subtitle")).to_have_text("Online")

            # A phone-sized screen shows one column at a time: the chat, or the list behind "back".
            ada.page.set_viewport_size({"width": 390, "height": 760})
            expect(ada.page.get_by_role("navigation", name="Groups")).to_be_hidden()
            ada.shot("phone")
            ada.check_accessibility("phone-sized chat")
            ada.page.get_by_role("link", name="Back to chats").click()
            expect(ada.page.get_by_role("navigation", name="Groups")).to_be_visible()
            ada.page.set_viewport_size(VIEWPORT)

            # A long history: the newest page first, older pages as Bo scrolls up.
            ada.page.get_by_role("button", name="New group").click()
            ada.page.get_by_label("Group name").fill("Book club")
            ada.page.get_by_role("button", name="Create group").click()
            expect(ada.page.get_by_role("heading", name="Book club")).to_be_visible()
            ada.page.evaluate(
                """async (email) => {
                    const app = window.huddle;
                    const id = app.store.openGroupId;
                    for (let i = 1; i <= 60; i++) {
                        await app.api.post(`/api/v1/groups/${id}/messages`, {text: `Chapter ${i}`});
                    }
                    await app.api.post(`/api/v1/groups/${id}/members`, {email});
                }""",
                bo.email,
            )
            book = bo.page.get_by_role("link", name=re.compile("Book club"))
            expect(book.locator(".badge")).to_have_text("1")  # what came before Bo joined counts as read
            book.click()
            expect(bo.messages()).to_contain_text("Chapter 60")
            assert len(bo.seqs()) == 50
            bo.page.locator(".messages").evaluate("el => { el.scrollTop = 0; }")
            expect(bo.page.get_by_text("This is the beginning of the conversation.")).to_be_visible()
            assert bo.seqs() == list(range(1, 62))
            expect(book.locator(".badge")).to_have_count(0)

            # Roles: Ada makes Bo an admin, and Bo gets the admin controls live.
            ada.page.get_by_role("button", name="Members").click()
            ada.page.get_by_label("Role of Bo").select_option("admin")
            bo.page.get_by_role("button", name="Members").click()
            expect(bo.page.get_by_label("Add by email")).to_be_visible()
            bo.shot("members")
            bo.check_accessibility("members as admin")

            # Bo leaves; Ada sees it. Ada adds Bo back, then removes Bo, whose client lets go of the group.
            bo.page.get_by_role("button", name="Leave group").click()
            bo.page.get_by_role("dialog").get_by_role("button", name="Leave").click()
            expect(book).to_have_count(0)
            # Whichever comes first, the socket's `leave` or the request's answer, it reads as leaving.
            expect(bo.page.get_by_text("You left Book club.")).to_be_visible()
            expect(bo.page.get_by_text("You are no longer a member of Book club.")).to_have_count(0)
            expect(ada.messages()).to_contain_text(re.compile(r"Bo \(.*\) left Book club"))
            expect(ada.page.get_by_role("heading", name="Members (1)")).to_be_visible()
            ada.page.get_by_label("Add by email").fill(bo.email)
            ada.page.get_by_role("button", name="Add", exact=True).click()
            expect(book).to_be_visible()
            book.click()
            expect(bo.page.get_by_role("heading", name="Book club")).to_be_visible()
            ada.page.get_by_role("button", name="Remove Bo").click()
            ada.page.get_by_role("dialog").get_by_role("button", name="Remove").click()
            expect(bo.page.get_by_text("You are no longer a member of Book club.")).to_be_visible()
            expect(book).to_have_count(0)
            expect(bo.page.get_by_role("heading", name="Welcome, Bo")).to_be_visible()

            # Ada adds Bo back, renames the group (Bo's list follows live), then deletes it for everyone.
            ada.page.get_by_label("Add by email").fill(bo.email)
            ada.page.get_by_role("button", name="Add", exact=True).click()
            expect(book).to_be_visible()
            ada.page.get_by_role("button", name="Rename group").click()
            ada.page.get_by_role("dialog").get_by_label("New group name").fill("Reading circle")
            ada.page.get_by_role("dialog").get_by_role("button", name="Rename").click()
            expect(ada.page.get_by_role("heading", name="Reading circle")).to_be_visible()
            circle = bo.page.get_by_role("link", name=re.compile("Reading circle"))
            expect(circle).to_be_visible()
            ada.check_accessibility("members as admin, after a rename")
            ada.page.get_by_role("button", name="Delete group").click()
            ada.page.get_by_role("dialog").get_by_role("button", name="Delete group").click()
            expect(ada.page.get_by_role("heading", name="Welcome, Ada")).to_be_visible()
            expect(ada.page.get_by_role("link", name=re.compile("Reading circle"))).to_have_count(0)
            expect(bo.page.get_by_text("Reading circle was deleted.")).to_be_visible()
            expect(circle).to_have_count(0)

            for person in (ada, bo):
                assert not person.problems, person.problems
                person.context.close()
            if ada.axe_missing:
                unavailable("axe-core is not installed (npm ci): accessibility not checked")


def test_attachments_an_image_and_a_pdf_reach_the_other_member(browser: Any, tmp_path: Path) -> None:
    """Ada attaches an image (picker) and a PDF (dropped on the composer); Bo sees the thumbnail, opens
    the lightbox (Escape closes it, focus returns), and gets the PDF as a chip with name and size."""
    image = tmp_path / "sunset.png"
    picture = io.BytesIO()
    Image.new("RGB", (800, 600), (250, 140, 60)).save(picture, "PNG")
    image.write_bytes(picture.getvalue())
    document = b"%PDF-1.4\n% huddle test\n" + b"0" * 3000 + b"\n%%EOF\n"
    with run_server(tmp_path, **SERVER_ENV) as server:
        ada, bo = Person(browser, server, "Ada"), Person(browser, server, "Bo")
        ada.sign_up()
        bo.sign_up()
        ada.page.get_by_role("button", name="New group").click()
        ada.page.get_by_label("Group name").fill("Photos")
        ada.page.get_by_role("button", name="Create group").click()
        expect(ada.page.get_by_role("heading", name="Photos")).to_be_visible()
        ada.page.evaluate(
            "async (email) => { const app = window.huddle; "
            "await app.api.post(`/api/v1/groups/${app.store.openGroupId}/members`, {email}); }",
            bo.email,
        )
        bo.page.get_by_role("link", name=re.compile("Photos")).click()
        expect(bo.page.get_by_role("heading", name="Photos")).to_be_visible()

        # The picker: the hidden file input behind the "Attach files" button.
        ada.page.locator(".composer input[type=file]").set_input_files(str(image))
        # Drag and drop: a DataTransfer with the PDF, dropped on the composer.
        ada.page.evaluate(
            """(bytes) => {
                const dataTransfer = new DataTransfer();
                const file = new File([new Uint8Array(bytes)], "report.pdf", {type: "application/pdf"});
                dataTransfer.items.add(file);
                const init = {dataTransfer, bubbles: true, cancelable: true};
                const composer = document.querySelector(".composer");
                composer.dispatchEvent(new DragEvent("dragover", init));
                composer.dispatchEvent(new DragEvent("drop", init));
            }""",
            list(document),
        )
        tray = ada.page.get_by_role("list", name="Attachments to send")
        expect(tray.locator(".file-state")).to_have_text(["ready", "ready"])
        ada.check_accessibility("composer with attachments")
        ada.say("Photos", "Holiday pictures")

        thumb = bo.page.get_by_role("button", name="Open image sunset.png")
        expect(thumb).to_be_visible()
        expect(thumb.locator("img")).to_have_js_property("naturalWidth", 320)
        chip = bo.messages().locator("a.file-chip")
        expect(chip).to_contain_text("report.pdf")
        expect(chip).to_contain_text("3.0 KB")
        assert chip.get_attribute("href").startswith("/api/v1/attachments/")
        bo.shot("attachments")
        bo.check_accessibility("message with attachments")
        thumb.click()
        lightbox = bo.page.get_by_role("dialog", name="sunset.png")
        expect(lightbox).to_be_visible()
        expect(lightbox.locator("img")).to_have_js_property("naturalWidth", 800)
        bo.check_accessibility("image lightbox")
        bo.page.keyboard.press("Escape")
        expect(lightbox).to_have_count(0)
        expect(thumb).to_be_focused()

        for person in (ada, bo):
            assert not person.problems, person.problems
            person.context.close()
        if ada.axe_missing:
            unavailable("axe-core is not installed (npm ci): accessibility not checked")


SYNC_SCENARIOS = (Path(__file__).parent / "sync_scenarios.js").read_text()


@pytest.fixture
def static_page(browser: Any) -> Iterator[Any]:
    """A page on a routed origin serving app/static, for testing the modules without a server."""
    context = browser.new_context()
    static = ROOT / "app" / "static"

    def serve(route: Any) -> None:
        path = route.request.url.split("huddle.test", 1)[1].split("?", 1)[0]
        file = static / path.removeprefix("/static/")
        if path == "/" or not file.is_file():
            route.fulfill(status=200, content_type="text/html", body="<!doctype html><title>test</title>")
        else:
            route.fulfill(status=200, content_type="text/javascript", body=file.read_text())

    context.route("http://huddle.test/**", serve)
    page = context.new_page()
    page.goto("http://huddle.test/")
    yield page
    context.close()


def test_sync_engine_late_join_drift_and_no_echo(static_page: Any) -> None:
    """The player's clock sync and drift rules, on a stand-in video element (no server needed); only
    a person's controls reach the group, never the element's side effects."""
    results = static_page.evaluate(SYNC_SCENARIOS)
    assert results["offset"] == 5003
    assert results["rtt"] == 20
    assert results["lateJoin"] == {"time": 15, "paused": False, "sent": 0}
    assert results["smallDrift"]["time"] == 15.7
    assert 1.0 < results["smallDrift"]["rate"] <= 1.08
    assert results["largeDrift"] == {"time": 16, "rate": 1}
    assert results["remotePause"] == {"paused": True, "time": 16.5, "sent": 0}
    assert results["userControls"] == [
        ["play", 16.5, "clip.webm", 1],
        ["seek", 42, "clip.webm", 1],
        ["rate", 42, "clip.webm", 1.5],
    ]
    assert results["beforeEcho"] == 42
    assert results["afterEcho"] == 50
    assert results["stale"] == 50
    assert results["sideEffects"] == {"sent": 0, "paused": False}
    assert results["atTheEnd"] == 0
    assert results["closed"] == {"paused": True, "sent": 0}
    assert results["reopened"] == {"time": 52, "paused": False, "sent": 0}
    assert results["refused"] == {
        "events": ["muted", "blocked"],
        "muted": True,
        "paused": True,
        "differs": True,
        "blocked": True,
    }
    assert results["joined"] == {"paused": False, "time": 10, "differs": False, "sent": 0}


def test_store_keeps_each_seq_once_and_counts_unread(static_page: Any) -> None:
    results = static_page.evaluate((Path(__file__).parent / "store_scenarios.js").read_text())
    assert results["unreadAtStart"] == 1
    assert results["firstResume"] == {"7": 3}
    assert results["live"] == ["new", "duplicate", "new", "duplicate", "new"]
    assert results["seqs"] == [1, 2, 3, 4, 5, 6]
    assert results["unreadAfterLive"] == 4
    assert results["gap"] == "gap"
    assert results["resumeAfter"] == {"7": 9}
    assert results["pendingLeft"] == 0
    assert results["unreadAfterOwn"] == 0  # your own message moves your read position, as on the server
    assert results["reactions"] == [{"emoji": "🎉", "count": 2, "me": True}]
    assert results["reads"] == 10
    assert results["afterStalePage"] == [
        {"text": "edited 5", "edited_at": "2026-12-04T21:22:01.5Z", "deleted": False},
        {"text": "", "edited_at": None, "deleted": True},
    ]
    assert results["afterNewerPage"] == "edited again"


def test_session_refreshes_before_expiry_and_always_keeps_the_newest_token(static_page: Any) -> None:
    presented: list[str] = []

    def refresh(route: Any) -> None:
        token = route.request.post_data_json["refresh_token"]
        presented.append(token)
        if len(presented) > 3:
            route.fulfill(
                status=401,
                content_type="application/json",
                body='{"status_code": 401, "code": "unauthorized", "detail": "Session revoked"}',
            )
            return
        n = len(presented)
        user = {"id": 1, "email": "a@example.com", "name": "A"}
        body = {"access_token": f"a{n}", "refresh_token": f"r{n}", "expires_in": 1, "refresh_expires_in": 60}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body | {"user": user}))

    static_page.route("**/api/v1/auth/refresh", refresh)
    results = static_page.evaluate((Path(__file__).parent / "session_scenarios.js").read_text())
    assert presented[:3] == ["r0", "r1", "r2"]  # rotation: each refresh presents the newest token
    assert results["storedFirst"] == "r0"
    assert results["storedLater"] in {"r2", "r3"}
    assert results["inLocalStorage"] == 0
    assert results["shared"] is True
    assert results["refusal"] == 401
    assert results["ended"] == "Your session has ended. Please sign in again."
    assert results["storedAfterEnd"] is None
    assert results["signedIn"] is False


def test_changing_quality_keeps_the_position_and_tells_nobody(static_page: Any) -> None:
    """Another quality of the same video resumes where the group is, playing, and sends no control."""
    results = static_page.evaluate((Path(__file__).parent / "quality_scenarios.js").read_text())
    assert results["before"] == {"time": 35, "src": "/media/film.mp4?quality=original", "paused": False}
    assert results["after"] == {
        "time": 37.5,
        "src": "/media/film.mp4?quality=360p",
        "paused": False,
        "rate": 1.25,
    }
    assert results["sent"] == 0


EVENTS_FIRST = (
    "retry: 1500\n\n"
    'event: ready\ndata: {"type":"ready","user_id":1,"groups":[7,8],"server_time":0}\n\n'
    'event: message\ndata: {"type":"message","group_id":7,"seq":1}\n\n'
    'event: message\ndata: {"type":"message","group_id":7,"seq":2}\n\nid: 7:2,8:4\n\n'
    ": keep-alive\n\n"
    'event: close\ndata: {"type":"close","code":1012,"reason":"server restarting"}\n\n'
)
EVENTS_AGAIN = 'event: ready\ndata: {"type":"ready","user_id":1,"groups":[7,8],"server_time":0}\n\n'


def test_the_sse_transport_resumes_by_cursor_and_sends_in_order(static_page: Any) -> None:
    requests: list[dict[str, str]] = []

    def events(route: Any) -> None:
        requests.append(route.request.headers)
        body = EVENTS_FIRST if len(requests) == 1 else EVENTS_AGAIN  # then it ends: a dropped stream
        route.fulfill(status=200, headers={"content-type": "text/event-stream"}, body=body)

    static_page.route("**/api/v1/events", events)
    results = static_page.evaluate((Path(__file__).parent / "transport_scenarios.js").read_text())
    assert results["parsed"] == [
        {"name": "message", "data": '{"seq":1}', "id": None},
        {"name": "message", "data": "", "id": "7:1"},
        {"name": "close", "data": '{"code":1012}', "id": None},
    ]
    assert (results["asked"], results["remembered"], results["forgotten"]) == ("sse", "sse", "ws")
    assert results["advertised"] == "sse"

    # The first connect names what the app holds; the next, the stream's cursor raised to it.
    assert requests[0]["authorization"] == "Bearer tok"
    assert requests[0]["last-event-id"] == "7:0,8:4,9:5"
    assert requests[1]["last-event-id"] == "7:2,8:4,9:5"
    assert results["frames"] == [["ready", None], ["message", 1], ["message", 2], ["ready", None]]
    assert results["cursor"] == {"7": 2, "8": 4}
    assert results["lost"] == [1012, 1006]  # the server's close code, then a stream that just ended
    assert results["statuses"] == ["connecting", "online", "waiting", "connecting", "online"]

    assert results["taken"] == [True, True, True, True, False]  # `seen` has the app's own HTTP path
    assert results["posted"] == [
        ["POST", "/api/v1/groups/7/typing", None],
        ["POST", "/api/v1/groups/7/messages", {"client_msg_id": "c1", "reply_to": None, "text": "one"}],
        [
            "POST",
            "/api/v1/groups/7/playback",
            {"video_action": "play", "video_time": 3, "video_name": "a.mp4", "rate": 1},
        ],
        ["POST", "/api/v1/groups/7/messages", {"client_msg_id": "c2", "reply_to": 41, "text": "refused"}],
    ]
    assert results["answers"] == [
        {"type": "ack", "client_msg_id": "c1", "id": "m2", "seq": 42, "group_id": 7},
        {
            "type": "error",
            "code": "conflict",
            "detail": "That client_msg_id was used for another text",
            "client_msg_id": "c2",
        },
    ]
    assert results["offsetSeconds"] == 5  # clock sync over GET /api/v1/time
    # Given up with a dead connection: the unanswered message (the app sends it again once connected)
    # and the typing behind it; the next connection's actions go at once, and no error is shown.
    assert results["afterStall"] == [
        ["/api/v1/groups/7/messages", "never answered"],
        ["/api/v1/groups/7/messages", "after"],
    ]
    assert results["stallFrames"] == [["ack", "c4"]]
