"""Journeys through the web app as people use it (issue 34): each test reproduces one defect found
with two or three people at once, in Debian's Chromium driven by Playwright, against the real server.

One server serves the whole module; every test signs up people of its own (fresh emails), so the
tests do not see each other's chats.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_spa import (  # noqa: F401 -- browser is a fixture
    SERVER_ENV,
    TRANSPORTS,
    Person,
    browser,
    expect,
    expect_transport,
    make_group,
)
from tests.process import Server, free_port, run_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = SERVER_ENV | {"ATTACHMENT_TEXT_MAX_BYTES": "4096"}  # 12: a limit a test can pass
    with run_server(tmp_path_factory.mktemp("journeys"), **env) as running:
        yield running


@pytest.fixture
def people(browser: Any, server: Server) -> Iterator[list[Person]]:  # noqa: F811
    """Three people, signed up lazily: `people[0]` etc. are created on first use."""
    made: list[Person] = []

    class Crowd(list[Person]):
        def __getitem__(self, index: Any) -> Any:
            while len(made) <= index:
                person = Person(browser, server, ["Ann", "Bob", "Cy"][len(made)])
                person.sign_up()
                made.append(person)
            return made[index]

    yield Crowd()
    for person in made:
        problems = person.problems
        person.context.close()
        assert not problems, problems


def message(person: Person, text: str) -> Any:
    """The message whose own text (not a quote of it) contains `text`."""
    return person.messages().locator("li.msg").filter(has=person.page.locator("p.text", has_text=text))


def toasts(person: Person) -> list[str]:
    return person.page.locator("#toasts .toast").all_inner_texts()


# -- 2. a deleted (or edited) message's text stays visible in the replies that quote it ------------


def test_replies_follow_the_quoted_message_when_it_is_edited_or_deleted(people: list[Person]) -> None:
    ann, bob = people[0], people[1]
    make_group(ann, "Secrets", bob)
    ann.say("Secrets", "my password is hunter2 oops")
    original = message(bob, "hunter2")
    original.hover()
    original.get_by_role("button", name="Reply").click()
    bob.say("Secrets", "you should change it")
    for person in (ann, bob):
        expect(message(person, "you should change it").locator(".reply-ref")).to_contain_text("hunter2")

    # An edit updates every quote live.
    own = message(ann, "hunter2")
    own.hover()
    own.get_by_role("button", name="Edit").click()
    ann.page.get_by_label("Edit message").fill("my password is hunter3 oops")
    ann.page.get_by_label("Edit message").press("Enter")
    for person in (ann, bob):
        expect(message(person, "you should change it").locator(".reply-ref")).to_contain_text("hunter3")

    # A delete too: the reply says what it answered was deleted, and no screen keeps the text.
    own = message(ann, "hunter3")
    own.hover()
    own.get_by_role("button", name="Delete").click()
    ann.page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    for person in (ann, bob):
        reply = message(person, "you should change it")
        expect(reply.locator(".reply-ref")).to_contain_text("deleted message")
        expect(person.messages()).not_to_contain_text("hunter")
        assert "hunter" not in (reply.locator(".reply-ref").get_attribute("aria-label") or "")

    # The server sends nothing of it either: not over the socket after a reload, not in history.
    frames: list[str] = []
    bob.page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    bob.page.reload()
    expect(message(bob, "you should change it").locator(".reply-ref")).to_contain_text("deleted message")
    bob.say("Secrets", "ok, all gone")
    expect(message(ann, "ok, all gone")).to_be_visible()
    expect(message(bob, "ok, all gone")).to_be_visible()
    assert frames, "the socket delivered nothing"
    assert not [frame for frame in frames if "hunter" in frame]
    answers = bob.page.evaluate(
        """async () => {
            const app = window.huddle;
            const id = app.store.openGroupId;
            return JSON.stringify([
                await app.api.get(`/api/v1/groups/${id}/messages`, {limit: 50}),
                await app.api.get("/api/v1/groups"),
                await app.api.get("/messages", {group_id: id, limit: 50}),
            ]);
        }"""
    )
    assert "you should change it" in answers
    assert "hunter" not in answers


# -- 4. text typed after an Up-arrow edit went nowhere: focus landed on the message's Edit button ----


def test_after_an_up_arrow_edit_focus_is_back_in_the_composer(people: list[Person]) -> None:
    ann = people[0]
    make_group(ann, "Notes")
    composer = ann.page.get_by_label("Message Notes")
    ann.say("Notes", "fist draft")
    expect(message(ann, "fist draft")).to_be_visible()
    composer.press("ArrowUp")
    field = ann.page.get_by_label("Edit message")
    expect(field).to_be_focused()
    field.fill("first draft")
    field.press("Enter")
    expect(message(ann, "first draft").locator(".edited")).to_be_visible()
    expect(composer).to_be_focused()
    ann.page.keyboard.type("typed right after")
    ann.page.keyboard.press("Enter")
    expect(message(ann, "typed right after")).to_be_visible()

    composer.press("ArrowUp")  # and Escape cancels back to the composer too
    expect(field).to_be_focused()
    field.press("Escape")
    expect(field).to_have_count(0)
    expect(composer).to_be_focused()

    # From the message's own Edit button, focus goes back to that button (where the person was).
    own = message(ann, "first draft")
    own.hover()
    own.get_by_role("button", name="Edit").click()
    field.press("Escape")
    expect(own.get_by_role("button", name="Edit")).to_be_focused()


# -- 7. a spurious red "Group not found" toast beside the right notice ------------------------------


def expect_only_notice(person: Person, notice: str, own_group: str) -> None:
    """The notice shows and no error does: a round trip on the socket afterwards (a message in the
    person's own group, sent and echoed) comes after any error frame the server would have sent."""
    expect(person.page.locator("#toasts .toast.info", has_text=notice)).to_be_visible()
    person.page.get_by_role("link", name=re.compile(re.escape(own_group))).click()
    person.say(own_group, f"still here after: {notice}")
    expect(message(person, f"still here after: {notice}")).to_be_visible()
    expect(person.page.locator(".pending-list li")).to_have_count(0)
    assert not person.page.locator("#toasts .toast.error").all_inner_texts()
    person.page.locator("#toasts .toast.info button").evaluate_all("all => all.forEach(b => b.click())")


def test_removed_leaving_or_deleted_shows_the_notice_and_no_error(people: list[Person]) -> None:
    ann, bob = people[0], people[1]
    make_group(bob, "Bob's own")
    for way in ("removed", "leaves", "deleted"):
        make_group(ann, f"Club {way}", bob)
        ann.say(f"Club {way}", "welcome")
        expect(message(bob, "welcome")).to_be_visible()
        if way == "leaves":
            bob.page.get_by_role("button", name="Members").click()
            bob.page.get_by_role("button", name="Leave group").click()
            bob.page.get_by_role("dialog").get_by_role("button", name="Leave").click()
        else:
            ann.page.get_by_role("button", name="Members").click()
            if way == "removed":
                ann.page.get_by_role("button", name="Remove Bob").click()
                ann.page.get_by_role("dialog").get_by_role("button", name="Remove").click()
            else:
                ann.page.get_by_role("button", name="Delete group").click()
                ann.page.get_by_role("dialog").get_by_role("button", name="Delete group").click()
        expect(bob.page.get_by_role("heading", name="Welcome, Bob")).to_be_visible()
        notice = {
            "removed": "You are no longer a member of Club removed.",
            "leaves": "You left Club leaves.",  # also when the socket's `leave` beats the request's answer
            "deleted": "Club deleted was deleted.",
        }[way]
        expect_only_notice(bob, notice, "Bob's own")


# -- 8. a rename left the old name in the composer's placeholder and label -------------------------


def test_a_rename_reaches_the_composer_for_everyone(people: list[Person]) -> None:
    ann, bob = people[0], people[1]
    make_group(ann, "Old name", bob)
    ann.page.get_by_role("button", name="Members").click()
    ann.page.get_by_role("button", name="Rename group").click()
    ann.page.get_by_role("dialog").get_by_label("New group name").fill("New name")
    ann.page.get_by_role("dialog").get_by_role("button", name="Rename").click()
    for person in (ann, bob):
        expect(person.page.get_by_role("heading", name="New name")).to_be_visible()
        composer = person.page.locator("#composer")
        expect(composer).to_have_attribute("placeholder", "Message New name")
        expect(person.page.get_by_label("Message New name")).to_be_visible()
        expect(person.page.get_by_label("Message Old name")).to_have_count(0)
        expect(person.page.get_by_label("Conversation in New name")).to_be_visible()
    bob.say("New name", "nice name")
    expect(message(ann, "nice name")).to_be_visible()


# -- 9. people search did not find surnames ---------------------------------------------------------


def test_people_search_finds_a_surname_in_any_case_and_without_accents(
    browser: Any,  # noqa: F811
    server: Server,
    people: list[Person],
) -> None:
    ann = people[0]
    zoe = Person(browser, server, "Zoë Côle-Baker")
    zoe.email = f"zoe-{ann.email}"
    zoe.sign_up()
    try:
        ann.page.get_by_role("button", name="Direct chat").click()
        for query in ("cole", "BAKER", "Côle", "zoe"):
            ann.page.get_by_label("Find a person").fill(query)
            expect(ann.page.get_by_role("button", name="Zoë Côle-Baker", exact=True)).to_be_visible()
        ann.page.get_by_role("button", name="Zoë Côle-Baker", exact=True).click()
        expect(ann.page.get_by_role("heading", name="Zoë Côle-Baker")).to_be_visible()
    finally:
        problems = zoe.problems
        zoe.context.close()
    assert not problems, problems


# -- 6. sign-up with a malformed email showed a raw regex that overflowed the card ------------------


def test_a_malformed_email_is_explained_in_words(browser: Any, server: Server) -> None:  # noqa: F811
    ann = Person(browser, server, "Ann")
    page = ann.page
    page.goto(f"{server.url}/signup")
    page.get_by_label("Name").fill("Ann")
    page.get_by_label("Email").fill("ann@@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Create account").click()
    error = page.locator(".auth-page .form-error")
    expect(error).to_have_text("Email must be an email address, like name@example.com.")
    fits = error.evaluate(
        "e => e.scrollWidth <= e.clientWidth && e.getBoundingClientRect().right <= "
        "e.closest('form').getBoundingClientRect().right"
    )
    assert fits
    # A long unbroken error would still wrap inside the card.
    page.evaluate("() => { document.querySelector('.auth-page .form-error').textContent = 'x'.repeat(400); }")
    assert error.evaluate(
        "e => e.getBoundingClientRect().right <= e.closest('form').getBoundingClientRect().right"
    )
    problems = ann.problems
    ann.context.close()
    assert not [p for p in problems if "400" not in p], problems


# -- 12. operator wording in user messages ------------------------------------------------------------


def test_a_file_over_its_limit_is_refused_in_plain_words(people: list[Person]) -> None:
    ann = people[0]
    make_group(ann, "Files")
    big = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"some notes\n" * 1000}
    ann.page.locator(".composer input[type=file]").set_input_files(big)
    item = ann.page.get_by_role("list", name="Attachments to send").locator("li", has_text="notes.txt")
    expect(item).to_contain_text("Text files can be up to 4 KB")
    expect(item).not_to_contain_text("bytes")
    expect(item).not_to_contain_text("ATTACHMENT_")


# -- 11. long pastes were cut silently at 10,000 UTF-16 units (5,000 emoji) --------------------------


def test_long_pastes_are_counted_like_the_server_and_never_cut(people: list[Person]) -> None:
    ann, bob = people[0], people[1]
    make_group(ann, "Paste", bob)
    composer = ann.page.get_by_label("Message Paste")
    composer.focus()
    emoji = "😀" * 6000  # 6,000 code points: the server takes it; 12,000 UTF-16 units
    ann.page.keyboard.insert_text(emoji)
    assert composer.evaluate("c => [...c.value].length") == 6000
    expect(ann.page.locator("#composer-limit")).to_be_hidden()
    composer.press("Enter")
    sent = bob.messages().locator("li.msg p.text").last
    expect(sent).to_have_js_property("textContent", emoji)

    # Past the limit: said, with the count, nothing is cut and nothing is sent.
    composer.focus()
    ann.page.keyboard.insert_text("a" * 10_001)
    limit = ann.page.locator("#composer-limit")
    expect(limit).to_have_text(
        "Too long: 10,001 characters, the limit is 10,000. Shorten it or send it in parts."
    )
    expect(composer).to_have_attribute("aria-invalid", "true")
    composer.press("Enter")
    expect(composer).to_have_js_property("value", "a" * 10_001)
    expect(ann.page.locator(".pending-list li")).to_have_count(0)
    composer.press("Backspace")
    expect(limit).to_be_hidden()
    composer.press("Enter")
    expect(bob.messages().locator("li.msg p.text").last).to_have_js_property("textContent", "a" * 10_000)


# -- 1. phone: message actions covered the text; the header squeezed the title and wrapped ----------

PHONE = {"width": 390, "height": 800}
OVERLAP = """([a, b]) => {
    const r = a.getBoundingClientRect(), s = b.getBoundingClientRect();
    return r.width > 0 && s.width > 0
        && r.left < s.right && s.left < r.right && r.top < s.bottom && s.top < r.bottom;
}"""


def on_a_phone(person: Person, browser: Any) -> None:  # noqa: F811
    """The person's tab becomes a phone's: 390x800, touch, mobile (cookies and storage carried over)."""
    state = person.context.storage_state()
    person.context.close()
    person.context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, storage_state=state)
    person.context.set_default_timeout(10_000)
    person.page = person.context.new_page()
    person.page.on("pageerror", lambda error: person.problems.append(f"uncaught: {error}"))


def test_on_a_phone_actions_come_on_tap_and_never_cover_the_text(browser: Any, people: list[Person]) -> None:  # noqa: F811
    ann, bob = people[0], people[1]
    make_group(ann, "Book club", bob)
    on_a_phone(bob, browser)
    page = bob.page
    page.goto(f"{bob.server.url}/signin")
    page.get_by_label("Email").fill(bob.email)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name=re.compile("Book club")).tap()
    bob.expect_connected()
    ann.say("Book club", "Shall we read something by Ursula K. Le Guin next? The Dispossessed maybe.")
    bob.say("Book club", "Yes! I have wanted to read that one for years, it is on my shelf.")
    theirs = message(bob, "Le Guin")
    mine = message(bob, "on my shelf")
    expect(theirs).to_be_visible()
    expect(mine).to_be_visible()

    # No actions until a message is tapped; then they sit below its text, over nothing.
    expect(bob.messages().locator(".actions").filter(visible=True)).to_have_count(0)
    theirs.locator("p.text").tap()
    actions = theirs.locator(".actions")
    expect(actions).to_be_visible()
    expect(actions.get_by_role("button", name="Reply")).to_be_visible()
    for part in ("p.text", ".meta"):
        pair = [actions.element_handle(), theirs.locator(part).element_handle()]
        assert not page.evaluate(OVERLAP, pair), f"the actions cover {part}"
    expect(mine.locator(".actions")).to_be_hidden()
    actions.get_by_role("button", name="Reply").tap()
    expect(page.locator(".reply-banner")).to_contain_text("Replying to Ann")

    # The header keeps the title whole, the member line on one line and Sign out on the top row.
    title = page.get_by_role("heading", name="Book club")
    assert title.evaluate("h => h.scrollWidth <= h.clientWidth"), "the title is cut"
    subtitle = page.locator("#chat-subtitle")
    line = subtitle.evaluate("s => parseFloat(getComputedStyle(s).lineHeight) || 20")
    assert subtitle.bounding_box()["height"] <= line * 1.5, "the member line wraps"
    brand = page.get_by_role("link", name="Huddle").bounding_box()
    sign_out = page.get_by_role("button", name="Sign out").bounding_box()
    assert sign_out["y"] < brand["y"] + brand["height"], "Sign out dropped to a second row"
    assert sign_out["x"] + sign_out["width"] <= PHONE["width"]
    bob.shot("phone-chat")


# -- 3. a message with an image was not scrolled into view ------------------------------------------


def at_bottom(person: Person) -> bool:
    return bool(
        person.page.locator(".messages").evaluate("s => s.scrollHeight - s.scrollTop - s.clientHeight < 2")
    )


def test_an_image_message_is_scrolled_into_view_for_sender_and_receiver(
    people: list[Person], tmp_path: Path
) -> None:
    import io  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415

    ann, bob = people[0], people[1]
    make_group(ann, "Pictures", bob)
    ann.page.evaluate(
        """async () => {
            const app = window.huddle;
            for (let i = 1; i <= 30; i++) {
                await app.api.post(`/api/v1/groups/${app.store.openGroupId}/messages`, {text: `Line ${i}`});
            }
        }"""
    )
    expect(message(bob, "Line 30")).to_be_visible()
    expect(message(ann, "Line 30")).to_be_visible()
    picture = io.BytesIO()
    Image.new("RGB", (800, 600), (60, 140, 250)).save(picture, "PNG")
    image = tmp_path / "lake.png"
    image.write_bytes(picture.getvalue())
    ann.page.locator(".composer input[type=file]").set_input_files(str(image))
    tray = ann.page.get_by_role("list", name="Attachments to send")
    expect(tray.locator(".file-state")).to_have_text(["ready"])
    ann.say("Pictures", "The lake this morning")
    for person in (ann, bob):
        img = person.messages().get_by_role("button", name="Open image lake.png").locator("img")
        expect(img).to_have_js_property("complete", True)
        assert img.evaluate("i => i.naturalWidth") > 0
        box = img.bounding_box()
        assert (round(box["width"]), round(box["height"])) == (160, 120), box  # reserved before it loads
        assert at_bottom(person), f"{person.name} is not at the bottom"
        expect(person.page.locator(".jump")).to_be_hidden()
    expect(bob.page.get_by_role("link", name=re.compile("Pictures")).locator(".badge")).to_have_count(0)


# -- 10. attachments: stretched chips, an empty preview, a video preview naming an email -------------


def test_attachment_chips_previews_and_video_previews_read_well(
    browser: Any,  # noqa: F811
    people: list[Person],
    tmp_path: Path,
) -> None:
    import io  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415

    from tests.e2e.media_files import make_test_video  # noqa: PLC0415

    ann, bob = people[0], people[1]
    make_group(ann, "Trip", bob)
    picture = io.BytesIO()
    Image.new("RGB", (800, 600), (60, 140, 250)).save(picture, "PNG")
    image = tmp_path / "beach.png"
    image.write_bytes(picture.getvalue())
    notes = tmp_path / "notes.txt"
    notes.write_text("bring towels\n")
    composer_files = ann.page.locator(".composer input[type=file]")
    composer_files.set_input_files([str(image), str(notes)])
    expect(ann.page.get_by_role("list", name="Attachments to send").locator(".file-state")).to_have_text(
        ["ready", "ready"]
    )
    ann.page.get_by_role("button", name="Send", exact=True).click()  # attachments alone, no text

    # The chip beside the thumbnail keeps its own height.
    chip = bob.messages().locator("a.file-chip", has_text="notes.txt")
    thumb = bob.messages().get_by_role("button", name="Open image beach.png")
    expect(chip).to_be_visible()
    expect(thumb.locator("img")).to_have_js_property("complete", True)
    assert chip.bounding_box()["height"] < thumb.bounding_box()["height"] / 2

    # The chat list says what was sent, not "Ann:" and nothing.
    link = bob.page.get_by_role("link", name=re.compile("Trip"))
    expect(link.locator(".preview")).to_have_text("Ann: 📎 beach.png, notes.txt")

    # A video played for the group: a fresh sign-in's chat list names Ann, not her email.
    video = make_test_video(tmp_path, seconds=2)
    ann.page.get_by_role("button", name="Watch together").click()
    ann.page.get_by_label("Video file to upload").set_input_files(video)
    ann.page.get_by_role("button", name="Upload", exact=True).click()
    expect(ann.page.locator("#upload-progress-text")).to_have_text(f"{video.name} uploaded.")
    ann.page.get_by_role("button", name=f"Play {video.name} for everyone").click()
    expect(link.locator(".preview")).to_contain_text(f"Ann played {video.name}")
    bob.page.evaluate("() => sessionStorage.clear()")
    bob.page.goto(f"{bob.server.url}/signin")
    bob.page.get_by_label("Email").fill(bob.email)
    bob.page.get_by_label("Password").fill("correct horse battery")
    bob.page.get_by_role("button", name="Sign in").click()
    expect(link.locator(".preview")).to_have_text(f"Ann played {video.name}")


# -- 5. server restart: an edit typed during the outage was lost; read positions went wrong ---------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_server_restart_loses_no_edit_and_no_read_position(
    browser: Any,  # noqa: F811
    tmp_path: Path,
    transport: str,
) -> None:
    port = free_port()
    env = SERVER_ENV | {"REALTIME_TRANSPORT": transport}
    with run_server(tmp_path, PORT=str(port), **env) as server:
        ann, bob = Person(browser, server, "Ann"), Person(browser, server, "Bob")
        ann.sign_up()
        bob.sign_up()
        make_group(ann, "Restart", bob)
        ann.say("Restart", "first tyop")
        ann.say("Restart", "second tyop")
        expect(message(bob, "second tyop")).to_be_visible()

        # Ann opens an edit, the server goes away; she saves one edit and keeps typing another.
        first = message(ann, "first tyop")
        first.hover()
        first.get_by_role("button", name="Edit").click()
        server.stop()
        for person in (ann, bob):
            expect(person.page.locator(".conn")).not_to_have_attribute("data-status", "online")
        ann.page.get_by_label("Edit message").fill("first typo")
        ann.page.get_by_label("Edit message").press("Enter")
        expect(message(ann, "first typo").locator(".edited")).to_have_text("(edit waiting for connection…)")
        second = message(ann, "second tyop")
        second.hover()
        second.get_by_role("button", name="Edit").click()
        ann.page.get_by_label("Edit message").fill("second typo")
        bob.say("Restart", "said in the outage")

        with run_server(tmp_path, PORT=str(port), **env):
            ann.expect_connected(timeout=25_000)
            bob.expect_connected(timeout=25_000)
            expect(message(bob, "first typo")).to_be_visible()  # the queued edit went out
            expect(message(ann, "first typo").locator(".edited")).to_have_text("(edited)")
            expect(message(ann, "said in the outage")).to_be_visible()
            # The box Ann was typing in survived the reconnect, text and all.
            field = ann.page.get_by_label("Edit message")
            expect(field).to_have_value("second typo")
            field.press("Enter")
            expect(message(bob, "second typo")).to_be_visible()

            # Read positions: Ann has the chat open, so Bob's message is seen and nothing is unread.
            expect(bob.page.locator(".receipt")).to_have_text("Seen by Ann")
            badge = ann.page.get_by_role("link", name=re.compile("Restart")).locator(".badge")
            expect(badge).to_have_count(0)
            unread = ann.page.evaluate(
                "async () => (await window.huddle.api.get('/api/v1/groups')).map(g => g.unread_count)"
            )
            assert unread == [0], unread
            for person in (ann, bob):
                expect_transport(person, transport)
                problems = person.problems
                person.context.close()
                assert not [p for p in problems if "Failed to fetch" not in p], problems


# -- smaller: reaction chips in a different order per person until a reload --------------------------


def react(person: Person, text: str, emoji: str) -> None:
    target = message(person, text)
    target.hover()
    target.get_by_role("button", name="React").click()
    person.page.get_by_role("button", name=f"React with {emoji}").click()


def test_reaction_chips_are_in_the_same_order_for_everyone(people: list[Person]) -> None:
    ann, bob = people[0], people[1]
    make_group(ann, "Reactions", bob)
    ann.say("Reactions", "react to this")
    expect(message(bob, "react to this")).to_be_visible()
    react(bob, "react to this", "😮")
    expect(message(ann, "react to this").locator(".reaction")).to_have_count(1)
    react(ann, "react to this", "👍")
    expect(message(bob, "react to this").locator(".reaction")).to_have_count(2)
    react(bob, "react to this", "❤️")
    react(ann, "react to this", "😮")
    chips = ["👍 1", "❤️ 1", "😮 2"]  # the picker's order, whoever reacted first
    for person in (ann, bob):
        expect(message(person, "react to this").locator(".reaction")).to_have_text(chips)
    bob.page.reload()
    expect(message(bob, "react to this").locator(".reaction")).to_have_text(chips)


# -- smaller: a message deleted before it was read still counted as unread ----------------------------


def test_a_message_deleted_before_it_was_read_is_not_unread(people: list[Person]) -> None:
    ann, bob = people[0], people[1]
    make_group(ann, "Unread", bob)
    make_group(bob, "Elsewhere")  # Bob looks at another chat
    ann.say("Unread", "first of two")
    ann.say("Unread", "second of two")
    badge = bob.page.get_by_role("link", name=re.compile("Unread")).locator(".badge")
    expect(badge).to_have_text("2")
    own = message(ann, "first of two")
    own.hover()
    own.get_by_role("button", name="Delete").click()
    ann.page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(badge).to_have_text("1")  # live
    bob.page.reload()
    expect(badge).to_have_text("1")  # from the server's count
    bob.page.get_by_role("link", name=re.compile("Unread")).click()
    expect(message(bob, "second of two")).to_be_visible()
    expect(badge).to_have_count(0)


# -- smaller: the typing indicator lingered ~5 s after the box was cleared or the tab closed ----------


def test_typing_stops_showing_when_the_box_is_cleared_or_the_tab_closes(people: list[Person]) -> None:
    ann, bob = people[0], people[1]
    make_group(ann, "Typing", bob)
    frames: list[dict[str, Any]] = []
    bob.page.on("websocket", lambda ws: ws.on("framereceived", lambda text: frames.extend(lines(text))))
    bob.page.reload()  # the recorder sees Bob's socket from its start
    bob.page.get_by_role("link", name=re.compile("Typing")).click()
    line = bob.page.locator("#typing")
    composer = ann.page.get_by_label("Message Typing")
    ann_id = ann.page.evaluate("() => window.huddle.store.me.id")
    group_id = bob.page.evaluate("() => window.huddle.store.openGroupId")

    def received(check: Any, seconds: float) -> None:
        """Bob's socket has received a frame that `check` accepts, within `seconds`."""
        for _ in range(int(seconds * 40)):
            if any(check(f) for f in frames):
                return
            bob.page.wait_for_timeout(25)
        raise AssertionError(f"no such frame: {frames}")

    def told(check: Any) -> None:
        """Bob's socket received a frame about Ann that `check` accepts, and his line is cleared by it,
        well before the ~5 s an indicator shows on its own."""
        received(lambda f: f.get("user_id") == ann_id and check(f), 5)
        expect(line).to_have_text("", timeout=2_000)

    # Typing is not replayed: Bob's socket must follow the group before Ann types (on a busy
    # machine the chat can open before the socket has resumed).
    received(lambda f: f["type"] == "subscribed" and f.get("group_id") == group_id, 10)
    composer.press_sequentially("never mind")
    expect(line).to_have_text("Ann is typing…")
    composer.fill("")  # the box cleared without sending
    told(lambda f: f["type"] == "typing" and f.get("active") is False)

    composer.press_sequentially("gone soon")
    expect(line).to_have_text("Ann is typing…")
    ann.page.close()  # the tab closes mid-sentence
    stopped = {("typing", False, None), ("presence", None, "offline")}
    told(lambda f: (f["type"], f.get("active"), f.get("status")) in stopped)


def lines(payload: Any) -> list[dict[str, Any]]:
    """The events of one huddle.v2 frame (NDJSON)."""
    return [json.loads(part) for part in str(payload).splitlines() if part.startswith("{")]


# -- smaller: after signing in, focus was on the page rather than on anything in it -------------------


def test_after_signing_in_focus_starts_at_the_welcome(people: list[Person]) -> None:
    ann = people[0]
    expect(ann.page.get_by_role("heading", name="Welcome, Ann")).to_be_focused()
    ann.page.get_by_role("button", name="Sign out").click()
    ann.page.get_by_label("Email").fill(ann.email)
    ann.page.get_by_label("Password").fill("correct horse battery")
    ann.page.get_by_role("button", name="Sign in").click()
    expect(ann.page.get_by_role("heading", name="Welcome, Ann")).to_be_focused()


# -- the screenshot review: phone and desktop, for a person to look at (test-results/screenshots) ----


def test_screenshot_review_on_phone_and_desktop(people: list[Person], tmp_path: Path) -> None:
    """Shots of the screens people spend their time on, each checked for sideways overflow."""
    import io  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415

    ann, bob = people[0], people[1]
    make_group(ann, "Review", bob)
    long_text = " ".join(["This is a long message that goes on to show how text wraps in the chat."] * 8)
    ann.say("Review", long_text)
    ann.say("Review", "https://example.com/" + "a-very-long-unbroken-address-" * 6)
    ann.say("Review", "this one will be deleted")
    target = message(bob, "this one will be deleted")
    target.hover()
    target.get_by_role("button", name="Reply").click()
    bob.say("Review", "a reply to something deleted")
    own = message(ann, "this one will be deleted")
    own.hover()
    own.get_by_role("button", name="Delete").click()
    ann.page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(message(bob, "a reply to something deleted").locator(".reply-ref")).to_contain_text(
        "deleted message"
    )
    picture = io.BytesIO()
    Image.new("RGB", (900, 600), (80, 160, 120)).save(picture, "PNG")
    image = tmp_path / "garden.png"
    image.write_bytes(picture.getvalue())
    ann.page.locator(".composer input[type=file]").set_input_files(str(image))
    expect(ann.page.get_by_role("list", name="Attachments to send").locator(".file-state")).to_have_text(
        ["ready"]
    )
    ann.say("Review", "An image message")
    img = bob.messages().get_by_role("button", name="Open image garden.png").locator("img")
    expect(img).to_have_js_property("complete", True)

    def review(screen: str) -> None:
        bob.shot(f"review-{screen}")
        overflow = bob.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{screen}: {overflow}px wider than the window"

    for size, viewport in (("desktop", {"width": 1180, "height": 720}), ("phone", PHONE)):
        bob.page.set_viewport_size(viewport)
        bob.page.locator(".messages").evaluate("s => { s.scrollTop = s.scrollHeight; }")
        review(f"{size}-chat")
        bob.page.locator(".messages").evaluate("s => { s.scrollTop = 0; }")
        review(f"{size}-chat-long-messages")
        bob.page.get_by_role("button", name="Members").click()
        expect(bob.page.get_by_role("heading", name="Members (2)")).to_be_visible()
        review(f"{size}-members")
        bob.page.get_by_role("button", name="Close members").click()
        bob.page.get_by_role("button", name="Watch together").click()
        expect(bob.page.locator("#player")).to_be_visible()
        review(f"{size}-player")
        bob.page.get_by_role("button", name="Watch together").click()
        expect(bob.page.locator("#player")).to_be_hidden()


# -- issue 22, item 4: blocking, from a direct chat's header, a member entry and the settings page ---


def test_block_and_unblock_from_a_direct_chat_a_member_list_and_settings(people: list[Person]) -> None:
    ann, bob = people[0], people[1]
    # Bob finds Ann by her whole address and writes to her.
    bob.page.get_by_role("button", name="Direct chat").click()
    bob.page.get_by_label("Find a person").fill(ann.email)
    bob.page.get_by_role("button", name="Ann", exact=True).click()
    expect(bob.page.get_by_role("heading", name="Ann")).to_be_visible()
    bob.say("Ann", "hello from a stranger")
    ann.page.get_by_role("link", name=re.compile(r"^Bob\b")).click()
    expect(message(ann, "hello from a stranger")).to_be_visible()

    # Ann blocks him from the direct chat's header; the button turns into Unblock.
    ann.page.get_by_role("button", name="Block Bob").click()
    ann.page.get_by_role("dialog").get_by_role("button", name="Block").click()
    expect(ann.page.get_by_role("button", name="Unblock Bob")).to_be_visible()

    # Bob no longer finds her, and adding her by email is refused in words that tell nothing more.
    bob.page.get_by_role("button", name="Direct chat").click()
    bob.page.get_by_label("Find a person").fill(ann.email)
    expect(bob.page.locator("#new-direct [role=status]")).to_have_text("Nobody found.")
    bob.page.keyboard.press("Escape")
    make_group(bob, "Bob's club")
    bob.page.get_by_role("button", name="Members").click()
    bob.page.get_by_label("Add by email").fill(ann.email)
    bob.page.get_by_role("button", name="Add", exact=True).click()
    expect(bob.page.locator(".members-panel .form-error")).to_have_text(
        f"Nobody with the address {ann.email} can be added. Check it and try again."
    )

    # Settings lists him; Unblock empties the list.
    ann.page.get_by_role("link", name="Settings").click()
    expect(ann.page.get_by_role("heading", name="Settings")).to_be_visible()
    blocked = ann.page.get_by_role("list", name="Blocked people")
    expect(blocked).to_contain_text("Bob")
    ann.check_accessibility("settings with a blocked person")
    ann.shot("settings-blocked")
    ann.page.get_by_role("button", name="Unblock Bob").click()
    expect(blocked).to_have_text("You have not blocked anyone.")

    # Now Bob can add her; in the shared group her member list offers Block too.
    bob.page.get_by_label("Add by email").fill(ann.email)
    bob.page.get_by_role("button", name="Add", exact=True).click()
    expect(bob.page.get_by_role("list", name=re.compile("Members")).get_by_text("Ann")).to_be_visible()
    ann.page.get_by_role("link", name=re.compile("Bob's club")).click()
    ann.page.get_by_role("button", name="Members").click()
    ann.page.get_by_role("button", name="Block Bob").click()
    ann.page.get_by_role("dialog").get_by_role("button", name="Block").click()
    expect(ann.page.get_by_role("button", name="Unblock Bob")).to_be_visible()
    ann.shot("members-blocked")
    # The group they share stays: Bob's message still reaches her.
    bob.say("Bob's club", "still in the club")
    expect(message(ann, "still in the club")).to_be_visible()
    ann.check_accessibility("members panel with Unblock")


def test_a_rate_limited_direct_chat_says_how_long_to_wait(browser: Any, tmp_path: Path) -> None:  # noqa: F811
    with run_server(tmp_path, **(SERVER_ENV | {"DIRECT_CHAT_RATE_LIMIT": "1"})) as limited:
        crowd = [Person(browser, limited, name) for name in ("Ann", "Bob", "Cy")]
        try:
            for person in crowd:
                person.sign_up()
            ann, bob, cy = crowd
            cy.page.get_by_role("button", name="Direct chat").click()
            for other in (ann, bob):
                cy.page.get_by_label("Find a person").fill(other.email)
                cy.page.get_by_role("button", name=other.name, exact=True).click()
                if other is ann:
                    expect(cy.page.get_by_role("heading", name="Ann")).to_be_visible()
                    cy.page.get_by_role("button", name="Direct chat").click()
            # The window is CONTACT_RATE_WINDOW (10 min): the wait is said in minutes.
            expect(cy.page.locator("#new-direct [role=status]")).to_have_text(
                re.compile(r"^Too many attempts\. Try again in (9|10) min\.$")
            )
            problems = [problem for person in crowd for problem in person.problems]
            assert not problems, problems
        finally:
            for person in crowd:
                person.context.close()


# Records the Notifications the page raises (the real ones still show) and makes the tab "hidden".
SPY_ON_NOTIFICATIONS = """() => {
    const Real = window.Notification;
    window.shown = [];
    window.Notification = class extends Real {
        constructor(title, options) {
            super(title, options);
            window.shown.push({ title, body: options.body, notification: this });
        }
    };
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
}"""


def test_mentions_badges_and_notifications(people: list[Person]) -> None:
    """Issue 30: the @-autocomplete, mention chips and badge, the Mentions view, and notifications:
    permission from a click, the service worker registered, a notification raised while the tab is
    hidden, and clicking it opens the group at that message."""
    ann, bob = people[0], people[1]
    bob.context.grant_permissions(["notifications"], origin=bob.server.url)
    make_group(ann, "Plans", bob)
    bob.page.get_by_role("link", name="Settings").click()
    assert (
        bob.page.evaluate("Notification.permission") == "granted"
    )  # granted, yet nothing registered on load
    assert not bob.page.evaluate("async () => (await navigator.serviceWorker.getRegistrations()).length")
    bob.page.get_by_role("button", name="Enable notifications").click()
    expect(bob.page.get_by_role("status").filter(has_text="Notifications are on")).to_be_visible()
    workers = bob.page.evaluate(
        "async () => (await navigator.serviceWorker.getRegistrations()).map(r => r.active?.scriptURL)"
    )
    assert [url.removeprefix(bob.server.url) for url in workers] == ["/static/sw.js"]
    with bob.page.expect_response(
        lambda r: r.url.endswith("/notifications/settings") and r.request.method == "PATCH"
    ):
        bob.page.get_by_label("Notify me about").select_option("mentions")
    bob.page.evaluate(SPY_ON_NOTIFICATIONS)

    composer = ann.page.get_by_label("Message Plans")
    composer.press_sequentially("no mention here")
    composer.press("Enter")
    composer.press_sequentially("@Bo")
    option = ann.page.get_by_role("option", name="@Bob")
    expect(option).to_be_visible()
    composer.press("Enter")  # takes the suggestion, sends nothing
    expect(composer).to_have_value("@Bob ")
    composer.press_sequentially("see the plan")
    composer.press("Enter")
    expect(message(ann, "see the plan").locator(".mention")).to_have_text("@Bob")

    # Bob, elsewhere with the tab hidden: a badge, and one notification (the other message is not a mention).
    link = bob.page.get_by_role("link", name=re.compile("Plans"))
    expect(link.locator(".mention-badge")).to_have_text("@1")
    bob.page.wait_for_function("window.shown.length === 1")
    assert bob.page.evaluate("window.shown.map(n => [n.title, n.body])") == [
        ["Ann in Plans", "You were mentioned"]
    ]
    bob.page.evaluate(
        "() => { Object.defineProperty(document, 'visibilityState', "
        "{ configurable: true, get: () => 'visible' }); window.shown[0].notification.onclick(); }"
    )
    expect(bob.page).to_have_url(re.compile(r"/g/\d+\?seq=\d+$"))
    chip = message(bob, "see the plan").locator(".mention.to-me")
    expect(chip).to_have_text("@Bob")
    expect(link.locator(".mention-badge")).to_have_count(0)  # read now

    bob.page.get_by_role("link", name="Mentions").click()
    results = bob.page.get_by_role("list", name="Messages that mention you")
    expect(results).to_contain_text("see the plan")
    expect(results).not_to_contain_text("no mention here")

    # A mention further back than the first page still opens at the message.
    ann.page.evaluate(
        """async () => { const app = window.huddle; const id = app.store.openGroupId;
            for (let i = 0; i < 50; i += 1)
                await app.api.post(`/api/v1/groups/${id}/messages`, {text: `filler ${i}`}); }"""
    )
    bob.page.reload()
    bob.page.get_by_role("list", name="Messages that mention you").get_by_role("link").first.click()
    expect(message(bob, "see the plan")).to_be_in_viewport()

    bob.page.get_by_role("link", name="Settings").click()
    bob.page.get_by_label("Mute Plans").select_option("1")
    expect(bob.page.get_by_label("Mute Plans")).to_have_value("keep")  # "Muted until <in an hour>"
    assert bob.page.evaluate("window.huddle.notifier.settings.groups[0].mute_until")
