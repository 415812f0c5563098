// A member changes quality while the group watches (SyncedPlayer.switchSource), run in Chromium by
// test_spa.py: the element reloads another source, yet keeps the group's position and play state,
// and none of its events during the switch reach the group.
async () => {
    const { SyncedPlayer } = await import("/static/js/sync.js");

    // A stand-in <video> that, like the real one, starts over (paused, at 0) when its source changes.
    class FakeVideo extends EventTarget {
        currentTime = 0; paused = true; ended = false; readyState = 4; duration = 100; seeking = false;
        playbackRate = 1; defaultPlaybackRate = 1; muted = false; src = ""; currentSrc = "";
        load() {
            this.currentSrc = this.src;
            this.currentTime = 0;
            if (!this.paused) { this.paused = true; this.dispatchEvent(new Event("pause")); }
            this.playbackRate = this.defaultPlaybackRate;
            this.dispatchEvent(new Event("ratechange"));
        }
        play() { if (this.paused) { this.paused = false; this.dispatchEvent(new Event("play")); } return Promise.resolve(); }
        pause() { if (!this.paused) { this.paused = true; this.dispatchEvent(new Event("pause")); } }
    }
    let serverNow = 1_000_000;
    let preferred = "original";
    const sent = [];
    const video = new FakeVideo();
    const player = new SyncedPlayer(video, {
        clock: { serverNow: () => serverNow },
        send: (frame) => { sent.push(frame); return true; },
        resolve: async (name) => `/media/${name}?quality=${preferred}`,
    });

    // The group plays at 1.25x from 30 s, 4 s ago: 35 s now.
    await player.apply({ video_name: "film.mp4", position: 30, playing: true, rate: 1.25, updated_at: serverNow - 4000 });
    video.dispatchEvent(new Event("seeked"));
    const before = { time: video.currentTime, src: video.src, paused: video.paused };

    serverNow += 2000; // two seconds later the member picks 360p: the group is at 37.5 s
    preferred = "360p";
    await player.switchSource();
    video.dispatchEvent(new Event("loadedmetadata"));
    video.dispatchEvent(new Event("seeked")); // the sync's own seek landing
    const after = { time: video.currentTime, src: video.src, paused: video.paused, rate: video.playbackRate };
    player.destroy();
    return { before, after, sent: sent.length };
}
