"""Subtitles in a real browser (issue 31, part 4): the uploader adds an SRT from the library, another
member's player offers the track, its cues load (converted and cleaned), and each member's choice
is their own: not sent to the group, remembered by their browser for that video."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.media_files import make_test_video
from tests.e2e.test_spa import SERVER_ENV, Person, browser, expect, make_group
from tests.e2e.test_watch_together import controls_in_chat, upload_and_play
from tests.process import run_server

pytestmark = pytest.mark.slow
__all__ = ["browser"]  # the fixture, shared with test_spa.py

CUES = [
    ("00:00:00,500", "00:00:20,000", "Hello from the subtitles"),
    ("00:00:20,000", "00:00:40,000", "<i>Second</i> line <script>alert(1)</script>"),
]


def write_srt(folder: Path) -> Path:
    path = folder / "film.en.srt"
    blocks = [f"{n}\r\n{start} --> {end}\r\n{text}\r\n" for n, (start, end, text) in enumerate(CUES, 1)]
    path.write_bytes("\r\n".join(blocks).encode())
    return path


def track_state(person: Person) -> dict[str, Any]:
    """The player's subtitle tracks as the browser sees them."""
    return dict(
        person.page.locator("#shared-video").evaluate(
            """v => ({
                tracks: [...v.querySelectorAll("track")].map(t => ({
                    kind: t.kind, srclang: t.srclang, label: t.label, mode: t.track.mode,
                    readyState: t.readyState,
                    cues: t.track.cues ? [...t.track.cues].map(c => c.text) : null,
                })),
            })"""
        )
    )


def test_a_member_picks_subtitles_and_the_cues_load(browser: Any, tmp_path: Path) -> None:
    video = make_test_video(tmp_path, seconds=40)
    srt = write_srt(tmp_path)
    with run_server(tmp_path, **SERVER_ENV) as server:
        ada, bo = Person(browser, server, "Ada"), Person(browser, server, "Bo")
        ada.sign_up()
        bo.sign_up()
        make_group(ada, "Movie night", bo)
        upload_and_play(ada, video)

        # The uploader adds the subtitles from the library.
        ada.page.get_by_role("button", name=f"Add subtitles to {video.name}").click()
        dialog = ada.page.get_by_role("dialog")
        dialog.get_by_label("Subtitle file (WebVTT or SRT)").set_input_files(srt)
        dialog.get_by_label("Language").fill("en")
        dialog.get_by_label("Label in the menu (optional)").fill("English")
        ada.check_accessibility("add subtitles dialog")
        dialog.get_by_role("button", name="Add subtitles").click()
        expect(ada.page.locator("#subtitle-note")).to_have_text(f"Subtitles “English” added to {video.name}.")
        expect(ada.page.locator(".subtitle-list")).to_contain_text("English")

        # Bo opens the player: the track is offered (the browser's menu and ours), not shown yet.
        bo.page.get_by_role("button", name="Watch together").click()
        menu = bo.page.get_by_label("Subtitles", exact=True)
        expect(menu).to_be_visible()
        expect(menu.locator("option")).to_have_text(["Off", "English"])
        expect(menu).to_have_value("off")
        (track,) = track_state(bo)["tracks"]
        assert (track["kind"], track["srclang"], track["label"]) == ("subtitles", "en", "English")
        assert track["mode"] == "disabled"
        bo.check_accessibility("player with subtitles")

        # Bo picks them: the cues load, converted from SRT and cleaned of markup.
        menu.select_option(label="English")
        bo.page.wait_for_function(
            "() => { const t = document.querySelector('#shared-video track');"
            " return t && t.readyState === 2 && t.track.cues && t.track.cues.length > 0 }"
        )
        (track,) = track_state(bo)["tracks"]
        assert track["mode"] == "showing"
        assert len(track["cues"]) == len(CUES)
        assert track["cues"][0] == CUES[0][2]
        assert "<i>Second</i> line" in track["cues"][1]
        assert not any("script" in cue for cue in track["cues"])

        # Nobody else's choice: Ada's player still shows none, and the group heard nothing of it.
        expect(ada.page.locator("#player-subtitles")).to_have_value("off")
        assert [t["mode"] for t in track_state(ada)["tracks"]] == ["disabled"]
        assert controls_in_chat(ada) == [f"You played at 0:00 · {video.name}"]

        # Bo's browser remembers it for this video: after a reload the track shows again.
        bo.page.reload()
        expect(bo.page.locator("#player")).to_be_visible()
        expect(bo.page.get_by_label("Subtitles", exact=True)).to_have_value(re.compile(r"^\d+$"))
        bo.page.wait_for_function(
            "() => { const t = document.querySelector('#shared-video track');"
            " return t && t.track.mode === 'showing' && t.track.cues && t.track.cues.length > 0 }"
        )
        bo.shot("watch-together-subtitles")

        # Another quality is another source on the same element: the track stays, still showing.
        # (No ffmpeg renditions needed: the switch goes through the player's own path to a URL that
        # differs only by an extra query parameter.)
        before = bo.page.locator("#shared-video").evaluate("v => v.currentSrc")
        bo.page.evaluate(
            """async () => {
                const sync = window.huddle.chatView.player.sync;
                const resolve = sync.io.resolve;
                sync.io.resolve = async (name, options) => `${await resolve(name, options)}&as=other`;
                try { await sync.switchSource(); } finally { sync.io.resolve = resolve; }
            }"""
        )
        bo.page.wait_for_function(
            "before => { const v = document.querySelector('#shared-video');"
            " const t = v.querySelector('track');"
            " return v.currentSrc !== before && v.readyState >= 1 && t.track.mode === 'showing'"
            " && t.track.cues && t.track.cues.length > 0 }",
            arg=before,
        )
        expect(bo.page.get_by_label("Subtitles", exact=True)).not_to_have_value("off")
        barrier_text = "Bo switched quality"
        bo.say("Movie night", barrier_text)
        expect(ada.messages()).to_contain_text(barrier_text)
        assert controls_in_chat(ada) == [f"You played at 0:00 · {video.name}"]

        # A track whose URL stops working (a signed URL expires while the tab stays open) is fetched
        # again with a fresh one.
        bo.page.evaluate(
            "() => { const t = document.querySelector('#shared-video track');"
            " t.src = t.src.replace(/sig=[^&]+/, 'sig=expired'); }"
        )
        bo.page.wait_for_function(
            "() => { const t = document.querySelector('#shared-video track');"
            " return t && !t.src.includes('sig=expired') && t.readyState === 2"
            " && t.track.mode === 'showing' && t.track.cues.length > 0 }"
        )

        # Removed by the uploader: gone from Bo's player too.
        ada.page.get_by_role("button", name=f"Remove subtitles English from {video.name}").click()
        ada.page.get_by_role("dialog").get_by_role("button", name="Remove subtitles").click()
        expect(ada.page.locator("#subtitle-note")).to_have_text(
            f"Subtitles “English” removed from {video.name}."
        )
        expect(bo.page.locator("#shared-video track")).to_have_count(0)
        expect(bo.page.get_by_label("Subtitles", exact=True)).to_be_hidden()
        assert not ada.problems, ada.problems
        assert not bo.problems, bo.problems
