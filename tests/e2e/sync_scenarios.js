// Scenarios for SyncedPlayer and Clock (app/static/js), run in Chromium by test_spa.py.
// An expression: an async function returning the observations the test asserts on.
async () => {
    const { Clock } = await import("/static/js/realtime.js");
    const { SyncedPlayer } = await import("/static/js/sync.js");
    const results = {};

    // NTP-style offset: the sample with the smallest round trip wins.
    const clock = new Clock();
    clock.add(1000, 6050, 1100);  // rtt 100: offset 6050 - 1050 = 5000
    clock.add(2000, 7013, 2020);  // rtt 20: offset 7013 - 2010 = 5003
    clock.add(3000, 8200, 3300);  // rtt 300: ignored
    results.offset = clock.offset;
    results.rtt = clock.rtt;

    // A stand-in <video>: the same properties and events, no decoding.
    class FakeVideo extends EventTarget {
        currentTime = 0; paused = true; ended = false; readyState = 4; duration = 100;
        playbackRate = 1; muted = false; src = "";
        load() {}
        play() { if (this.paused) { this.paused = false; this.dispatchEvent(new Event("play")); } return Promise.resolve(); }
        pause() { if (!this.paused) { this.paused = true; this.dispatchEvent(new Event("pause")); } }
        seekBy(t) { this.currentTime = t; this.dispatchEvent(new Event("seeked")); }
    }
    let serverNow = 1_000_000;
    let person = false; // whether the page has a person's activation (a click, a key) right now
    const sent = [];
    const video = new FakeVideo();
    const player = new SyncedPlayer(video, {
        clock: { serverNow: () => serverNow },
        send: (frame) => { sent.push(frame); return true; },
        resolve: async (name) => `/media/${name}`,
        intent: () => person,
    });

    // A late joiner: playing since 5 s ago from 10 s, so at 15 s now; nothing is echoed back.
    await player.apply({ video_name: "clip.webm", position: 10, playing: true, rate: 1, updated_at: serverNow - 5000 });
    video.dispatchEvent(new Event("loadeddata"));  // the source's first frame: the load is over
    video.dispatchEvent(new Event("seeked"));
    results.lateJoin = { time: video.currentTime, paused: video.paused, sent: sent.length };

    // Small drift (0.3 s behind): caught up by playing slightly faster, without a jump.
    serverNow += 1000;
    video.currentTime = 15.7;
    player.correct(false);
    results.smallDrift = { time: video.currentTime, rate: video.playbackRate };

    // Large drift (3 s behind): seek.
    video.currentTime = 13;
    player.correct(false);
    results.largeDrift = { time: video.currentTime, rate: video.playbackRate };

    // Remote pause: applied, not echoed.
    await player.apply({ video_name: "clip.webm", position: 16.5, playing: false, rate: 1, updated_at: serverNow });
    results.remotePause = { paused: video.paused, time: video.currentTime, sent: sent.length };

    // The user's own play and seek are sent to the group.
    video.dispatchEvent(new Event("seeked"));  // the sync's own seek to 16.5 landing: not a user's
    person = true;
    video.play();
    video.seekBy(42);
    // A speed the sync did not set (the player's own speed menu) goes to the group too.
    video.playbackRate = 1.5;
    video.dispatchEvent(new Event("ratechange"));
    person = false;
    results.userControls = sent.map((f) => [f.video_action, f.video_time, f.video_name, f.rate]);

    // Until the server echoes our three controls, a state it sends does not undo them.
    await player.apply({ video_name: "clip.webm", position: 3, playing: false, rate: 1, updated_at: serverNow + 10 });
    results.beforeEcho = video.currentTime;
    player.confirmOwn(); player.confirmOwn(); player.confirmOwn();
    await player.apply({ video_name: "clip.webm", position: 50, playing: false, rate: 1, updated_at: serverNow + 20 });
    results.afterEcho = video.currentTime;

    // A state older than the last applied one (arriving late) is ignored.
    await player.apply({ video_name: "clip.webm", position: 1, playing: false, rate: 1, updated_at: serverNow - 60000 });
    results.stale = video.currentTime;

    // Side effects never reach the group. The group plays from 50 s.
    sent.length = 0;
    await player.apply({ video_name: "clip.webm", position: 50, playing: true, rate: 1, updated_at: serverNow + 30 });
    serverNow += 30;
    video.dispatchEvent(new Event("seeked"));
    video.pause();  // nobody's: a background tab, an interrupted play(), a buffering browser
    video.playbackRate = 1;  // a load resetting the rate
    video.dispatchEvent(new Event("ratechange"));
    player.correct(false);  // the next check puts the element back where the group is
    results.sideEffects = { sent: sent.length, paused: video.paused };
    person = true;  // even during a person's activation, the end of the video is not a pause
    video.currentTime = 99.9;
    video.pause();
    person = false;
    results.atTheEnd = sent.length;
    // Closing the player pauses it and tells nobody; opening it again joins where the group is.
    await player.watch(false);
    results.closed = { paused: video.paused, sent: sent.length };
    serverNow += 2000;
    await player.watch(true);
    video.dispatchEvent(new Event("seeked"));
    results.reopened = { time: video.currentTime, paused: video.paused, sent: sent.length };
    player.destroy();

    // Autoplay refused, even muted: "Press play to join"; the player says where the group is; the
    // member's press joins it. Nothing is sent at any point.
    class RefusingVideo extends FakeVideo {
        allowed = false;
        play() { return this.allowed ? super.play() : Promise.reject(new DOMException("no", "NotAllowedError")); }
    }
    const refusing = new RefusingVideo();
    const joiner = new SyncedPlayer(refusing, {
        clock: { serverNow: () => serverNow },
        send: (frame) => { sent.push(frame); return true; },
        resolve: async (name) => `/media/${name}`,
        intent: () => person,
    });
    const seen = [];
    joiner.addEventListener("muted", () => seen.push("muted"));
    joiner.addEventListener("blocked", () => seen.push("blocked"));
    let lastStatus = null;
    joiner.addEventListener("status", (event) => { lastStatus = event.detail; });
    sent.length = 0;
    await joiner.apply({ video_name: "clip.webm", position: 10, playing: true, rate: 1, updated_at: serverNow });
    refusing.dispatchEvent(new Event("loadeddata"));
    await new Promise((resolve) => setTimeout(resolve, 0));
    await new Promise((resolve) => setTimeout(resolve, 0));
    results.refused = { events: seen, muted: refusing.muted, paused: refusing.paused, differs: lastStatus.differs, blocked: lastStatus.blocked };
    refusing.allowed = true;  // the member's click allows playing
    person = true;
    joiner.joinNow();
    person = false;
    results.joined = { paused: refusing.paused, time: refusing.currentTime, differs: joiner.differs(), sent: sent.length };
    joiner.destroy();
    return results;
}
