"""Watch together in real browsers (issue 31): only what a person does reaches the group.

Debian's Chromium through Playwright, the real server, one browser context per person. Playwright's
`evaluate` runs as a user gesture, so a test that calls `v.pause()` through it acts as a person
would; everything else the element does (loading, an interrupted `play()`, the end of the video, the
player closing) must never reach the group.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.media_files import make_test_video
from tests.e2e.test_spa import SERVER_ENV, Person, browser, expect, expect_following, playback
from tests.process import run_server

pytestmark = pytest.mark.slow
__all__ = ["browser"]  # the fixture, shared with test_spa.py


def make_group(owner: Person, name: str, *others: Person) -> None:
    """The owner creates a group and adds the others by email; each of them opens it."""
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
        other.page.get_by_role("link", name=re.compile(name)).click()
        expect(other.page.get_by_role("heading", name=name)).to_be_visible()


def upload_and_play(person: Person, video: Path) -> None:
    person.page.get_by_role("button", name="Watch together").click()
    person.page.get_by_label("Video file to upload").set_input_files(video)
    person.page.get_by_role("button", name="Upload", exact=True).click()
    expect(person.page.locator("#upload-progress-text")).to_have_text(f"{video.name} uploaded.")
    person.page.get_by_role("button", name=f"Play {video.name} for everyone").click()


def controls_in_chat(person: Person) -> list[str]:
    """The group's video controls as the chat lists them ("Ada played at 0:00 · clip.webm")."""
    return person.messages().locator("li.video_control > span").all_inner_texts()


def barrier(sender: Person, receiver: Person, group: str, text: str) -> None:
    """The sender's socket delivers frames in order: once the receiver sees this message, every
    control the sender's player sent before it is in the receiver's chat too."""
    sender.say(group, text)
    expect(receiver.messages()).to_contain_text(text)


def test_a_late_joiner_reload_or_reconnect_never_pauses_the_group(browser: Any, tmp_path: Path) -> None:
    """Issue 31, as reported: Ada plays for everyone, Bo opens Watch together four seconds later.
    Bo joins at the group's position and sends nothing; so do Bo's reload and reconnect."""
    video = make_test_video(tmp_path, seconds=40)
    with run_server(tmp_path, **SERVER_ENV) as server:
        ada, bo = Person(browser, server, "Ada"), Person(browser, server, "Bo")
        ada.sign_up()
        bo.sign_up()
        make_group(ada, "Movie night", bo)
        upload_and_play(ada, video)
        expect(ada.page.locator("#shared-video")).to_have_js_property("paused", False)
        time.sleep(4)  # the report's four seconds: not a measurement, the moment Bo arrives

        bo.page.get_by_role("button", name="Watch together").click()
        expect(bo.page.locator("#player")).to_be_visible()
        expect_following(bo, ada, paused=False, tolerance=0.5)
        assert playback(bo.page)["t"] > 3  # joined where the group is, not at the start
        barrier(bo, ada, "Movie night", "Bo is here")
        assert controls_in_chat(ada) == [f"You played at 0:00 · {video.name}"]
        assert not playback(ada.page)["paused"]

        # A reload: the player opens again by itself, at the group's position, sending nothing.
        bo.page.reload()
        expect(bo.page.locator("#player")).to_be_visible()
        expect_following(bo, ada, paused=False, tolerance=0.5)
        barrier(bo, ada, "Movie night", "Bo reloaded")

        # A network drop: the socket reconnects and the player carries on, sending nothing.
        bo.context.set_offline(True)
        expect(bo.page.locator(".conn")).not_to_have_attribute("data-status", "online")
        bo.context.set_offline(False)
        bo.expect_connected(timeout=25_000)
        expect_following(bo, ada, paused=False, tolerance=0.5)
        barrier(bo, ada, "Movie night", "Bo reconnected")
        assert controls_in_chat(ada) == [f"You played at 0:00 · {video.name}"]

        # Closing the player is Bo's own business: the group plays on.
        bo.page.get_by_role("button", name="Close player").click()
        expect(bo.page.locator("#player")).to_be_hidden()
        assert playback(bo.page)["paused"]
        barrier(bo, ada, "Movie night", "Bo left the film")
        assert controls_in_chat(ada) == [f"You played at 0:00 · {video.name}"]
        assert not playback(ada.page)["paused"]

        for person in (ada, bo):
            assert not person.problems, person.problems
            person.context.close()
