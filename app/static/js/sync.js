// Synchronized playback on one <video>: the group's playback state (position at a server time,
// playing, rate) is the truth; a person's controls send `video_control` and everyone (the sender too)
// applies the state the server stamps and broadcasts.
//
// - Only a person's intent goes to the group. A <video> fires play/pause/seeked/ratechange for many
//   reasons that are nobody's decision: a new source loading, a play() interrupted by a load or a
//   seek, an autoplay refusal, the end of the video, a background tab, the sync's own corrections,
//   the player being closed. A local event is sent only when (1) the page has a user activation (a
//   click or key press in the last few seconds: the element's own controls give one, although they
//   show the page no pointer event), (2) the page is visible, (3) none of those side effects is in
//   progress (loading, switching source, our own play() pending, our own pause, the end), and (4) it
//   disagrees with the group's state. The app's own buttons (Play for everyone, Speed) send directly.
// - Watching: the player follows the group only while the member has it open (watch(true)); closing
//   it pauses this element and tells nobody.
// - Late join, reload, reconnect: where the group is now = position + (server now - updated_at) *
//   rate when playing, with server now = local clock + the offset measured by ping/pong (see Clock in
//   realtime.js). Joining only applies the group's state: it never sends anything.
// - Autoplay: a browser that refuses to start sound without a click gets the group's video muted
//   (with an Unmute button); one that refuses even that shows "Press play to join" (event "blocked").
// - Drift: checked twice a second while playing. A small drift is absorbed by nudging playbackRate
//   (up to 8 %, in proportion: half of it is gone by the next check; no visible jump); a large one
//   (> SEEK_DRIFT s) is fixed by seeking. Within 15 ms the player plays at the group's rate.
// - Own controls: until the server echoes our latest control back, states it sends are older than
//   the user's intent and are not applied (a pause's state must not undo the seek that followed it).

export const SEEK_DRIFT = 0.75; // seconds: beyond this, seek instead of nudging the rate
const SETTLED_DRIFT = 0.015; // seconds: close enough, play at the group's rate
const PAUSED_DRIFT = 0.02; // seconds: a paused player further than this from the group's frame seeks
const MAX_NUDGE = 0.08; // at most 8 % faster or slower while catching up
const CHECK_MS = 500; // how often a playing player measures its drift
const NUDGE_GAIN = 1; // rate change per second of drift: half of it is gone by the next check
const ECHO_TIMEOUT_MS = 3_000; // a control the server never echoes (refused, lost) stops counting
const END_MARGIN = 0.3; // seconds: a pause this close to the end is the video ending, not a person
const DIFFERS_DRIFT = 1.5; // seconds: this far from the group, the player says where the group is
const GESTURE_MS = 5_000; // without navigator.userActivation: a click or key this recent counts

/** Whether the page has a person's activation now (a click or key press in the last seconds). */
export function userActive() {
  if (navigator.userActivation) return navigator.userActivation.isActive;
  return performance.now() - lastGesture < GESTURE_MS;
}
let lastGesture = -Infinity;
if (typeof window !== "undefined" && !navigator.userActivation) {
  for (const type of ["pointerdown", "keydown", "touchend"]) {
    window.addEventListener(type, (event) => { if (event.isTrusted) lastGesture = performance.now(); }, true);
  }
}

export class SyncedPlayer extends EventTarget {
  /**
   * @param {HTMLVideoElement} video
   * @param {{clock: {serverNow(): number}, send(frame: object): boolean, resolve(name: string): Promise<string|null>, intent?: () => boolean}} io
   *   `intent` says whether an element event now can be a person's (default: user activation and a
   *   visible page); the scenario tests give their own.
   */
  constructor(video, io) {
    super();
    this.video = video;
    this.io = io;
    this.state = null;
    this.serverStamp = 0;
    this.loadedName = null;
    this.watching = true; // following the group (the panel is open); closed, nothing is loaded or played
    this.loading = false; // a source is loading: the element's events are its own, not a person's
    this.ownSeek = null; // where the sync itself last seeked to, so its "seeked" is not sent back
    this.ownRate = null; // the playbackRate the sync itself last set
    this.ownPauses = 0; // pause() calls of ours whose "pause" event has not arrived yet
    this.playPending = false; // our play() has not settled: a "pause" meanwhile is its interruption
    this.blocked = false; // the browser refused to play even muted: "Press play to join"
    this.unconfirmed = []; // when each of our controls left, until the server echoes it back
    this.switching = false; // changing quality (switchSource): the element's events are not sent
    this.timer = setInterval(() => this.correct(false), CHECK_MS);
    this.listeners = {
      play: () => this.local("play"),
      pause: () => this.local("pause"),
      seeked: () => this.local("seek"),
      loadedmetadata: () => this.correct(true),
      loadeddata: () => this.loaded(),
      error: () => this.recover(),
      ratechange: () => this.rateChanged(),
    };
    for (const [name, fn] of Object.entries(this.listeners)) video.addEventListener(name, fn);
    this.onVisible = () => {
      if (document.visibilityState === "visible") this.correct(true); // back from a throttled background tab
    };
    document.addEventListener("visibilitychange", this.onVisible);
  }

  destroy() {
    clearInterval(this.timer);
    for (const [name, fn] of Object.entries(this.listeners)) this.video.removeEventListener(name, fn);
    document.removeEventListener("visibilitychange", this.onVisible);
  }

  /** Whether an element event now may be a person's doing (see the notes at the top). */
  intent() {
    if (this.io.intent) return this.io.intent();
    return document.visibilityState === "visible" && userActive();
  }

  /**
   * Open (true) or close (false) this member's player. Opening joins the group where it is now;
   * closing stops this element. Neither sends anything to the group.
   */
  async watch(on) {
    this.watching = on;
    if (!on) {
      this.pauseQuietly();
      this.status();
      return;
    }
    if (this.blocked) {
      this.blocked = false; // opening the player is a click: the browser may let it play now
      this.dispatchEvent(new CustomEvent("unblocked"));
    }
    const s = this.state;
    if (s?.video_name && s.video_name !== this.loadedName) await this.load(s.video_name);
    this.correct(true);
    this.status();
  }

  /** Where the group's playback is now, in seconds (null without a state). */
  expected() {
    const s = this.state;
    if (!s) return null;
    if (!s.playing) return s.position;
    const elapsed = Math.max(0, this.io.clock.serverNow() - s.updated_at) / 1000;
    return s.position + elapsed * s.rate;
  }

  /** A state from the server (playback_state, or a video_control newer than what we have). */
  async apply(state) {
    // Server states are ordered by their server stamps; one older than the last applied arrived late.
    // (A local optimistic state never blocks one: the server's word replaces it.)
    if (state.updated_at < this.serverStamp) return;
    this.serverStamp = state.updated_at;
    // Until the server has echoed our latest control, what it says is older than what we asked for
    // (say, a pause's state arriving while the user already seeks): keep the user's intent.
    if (this.awaitingEcho()) return;
    this.state = { ...state };
    if (!state.video_name) this.unload(); // the video was deleted: the group's player stopped
    else if (this.watching && state.video_name !== this.loadedName) await this.load(state.video_name);
    this.correct(true);
    this.status();
  }

  /** The element failed (a signed URL expired, the network dropped): fetch a fresh URL, carry on. */
  async recover() {
    this.loading = false;
    const now = performance.now();
    if (!this.loadedName || now - (this.recoveredAt || -Infinity) < 10_000) return;
    this.recoveredAt = now;
    await this.load(this.loadedName, { fresh: true });
  }

  async load(name, { fresh = false } = {}) {
    this.loadedName = name;
    const url = await this.io.resolve(name, { fresh });
    if (this.loadedName !== name) return;
    if (!url) {
      this.status(`“${name}” is not available to you.`);
      return;
    }
    this.setSource(url);
  }

  /** A new source: until its first frame is there, whatever the element fires is the load's doing. */
  setSource(url) {
    this.ownSeek = null;
    this.loading = true;
    this.ownPauses = 0; // a load pauses without a "pause" event of ours to wait for
    this.video.src = url;
    this.video.load();
  }

  loaded() {
    this.loading = false;
    this.correct(true);
  }

  /** The group's video was renamed: the same video plays on under its new name. */
  renamed(from, to) {
    if (this.loadedName === from) this.loadedName = to;
    if (this.state?.video_name === from) this.state = { ...this.state, video_name: to };
    this.status();
  }

  unload() {
    if (!this.loadedName) return;
    this.loadedName = null; // first: the element's pause is then not sent to the group
    this.pauseQuietly();
    this.video.removeAttribute("src");
    this.video.load();
  }

  /** Pause this element only: its "pause" event is ours, not a person's. */
  pauseQuietly() {
    if (this.video.paused) return;
    this.ownPauses += 1;
    this.video.pause();
  }

  /**
   * Play another quality of the loaded video (the member's choice): same position, same play state,
   * and nothing is sent to the group, which keeps watching as before.
   */
  async switchSource() {
    const name = this.loadedName;
    if (!name) return;
    const at = this.video.currentTime;
    const wasPlaying = !this.video.paused;
    const url = await this.io.resolve(name, {});
    if (!url || this.loadedName !== name || url === this.video.currentSrc) return;
    this.switching = true; // the element's own events while it changes source are not the user's
    const resume = () => {
      this.video.removeEventListener("loadedmetadata", resume);
      if (this.state?.video_name === name) this.correct(true); // where the group is now
      else {
        this.seekTo(at);
        if (wasPlaying) this.play();
      }
      setTimeout(() => {
        this.switching = false;
      }, 1000);
    };
    this.video.addEventListener("loadedmetadata", resume);
    this.setSource(url);
  }

  /** Bring the element to the state: play/pause, then seek or nudge the rate. */
  correct(hard) {
    const s = this.state;
    const v = this.video;
    if (!this.watching || !s || !s.video_name || s.video_name !== this.loadedName || v.readyState < 1) return;
    // A seek in progress is someone's intent (the user's, or ours): let it land; "seeked" decides.
    if (v.seeking && !hard) return;
    const target = this.clamp(this.expected());
    const drift = v.currentTime - target;
    if (s.playing) {
      if (Math.abs(drift) > SEEK_DRIFT || (hard && Math.abs(drift) > 0.25)) {
        this.seekTo(target);
        this.setRate(s.rate);
      } else if (Math.abs(drift) > SETTLED_DRIFT) this.setRate(s.rate * (1 - Math.max(-MAX_NUDGE, Math.min(MAX_NUDGE, drift * NUDGE_GAIN))));
      else this.setRate(s.rate);
      if (v.paused && !this.blocked && !(v.ended && target >= v.duration)) this.play();
    } else {
      this.pauseQuietly();
      if (Math.abs(drift) > PAUSED_DRIFT) this.seekTo(target);
      this.setRate(s.rate);
    }
    this.lastDrift = drift;
    this.dispatchEvent(new CustomEvent("drift", { detail: { drift } }));
    this.showDifference();
  }

  /** Whether this element shows something else than the group (paused while it plays, elsewhere). */
  differs() {
    const s = this.state;
    const v = this.video;
    if (!this.watching || !s?.video_name || s.video_name !== this.loadedName) return false;
    if (s.playing && v.paused && !(v.ended && this.expected() >= v.duration)) return true;
    if (!s.playing && !v.paused) return true;
    return v.readyState >= 1 && !v.seeking && Math.abs(v.currentTime - this.clamp(this.expected())) > DIFFERS_DRIFT;
  }

  showDifference() {
    const differs = this.differs();
    if (differs !== this.wasDiffering) {
      this.wasDiffering = differs;
      this.status();
    }
  }

  /** The sync's own rate changes (drift nudges, the group's rate) are remembered, not sent. */
  setRate(rate) {
    this.ownRate = rate;
    if (this.video.playbackRate !== rate) this.video.playbackRate = rate;
  }

  /** A rate the sync did not set came from the user (the player's speed menu): tell the group. */
  rateChanged() {
    const rate = this.video.playbackRate;
    if (!this.loadedName || this.switching || Math.abs(rate - (this.ownRate ?? rate)) < 0.001) return;
    if (!(rate > 0 && rate <= 4)) return;
    if (this.loading || !this.watching || !this.intent()) {
      // A load resets the rate to the default: put the group's back, tell nobody.
      if (this.state) this.setRate(this.state.rate);
      return;
    }
    this.ownRate = rate;
    this.control("rate", this.video.currentTime, { rate });
  }

  clamp(t) {
    const d = this.video.duration;
    return Number.isFinite(d) ? Math.min(Math.max(0, t), Math.max(0, d - 0.05)) : Math.max(0, t);
  }

  seekTo(t) {
    this.ownSeek = t;
    this.video.currentTime = t;
  }

  play() {
    if (this.playPending) return;
    this.playPending = true;
    const settled = () => {
      this.playPending = false;
    };
    this.video.play().then(settled, (error) => {
      settled();
      if (error?.name !== "NotAllowedError") return; // AbortError: a load or a pause interrupted it
      // Autoplay with sound needs a gesture: start muted and offer to unmute, rather than fall behind.
      this.video.muted = true;
      this.dispatchEvent(new CustomEvent("muted"));
      this.playPending = true;
      this.video.play().then(settled, () => {
        settled();
        this.blocked = true; // not even muted: the member presses play (joinNow) and nothing is sent
        this.dispatchEvent(new CustomEvent("blocked"));
        this.status();
      });
    });
  }

  /** The member's "Press play to join": play this element where the group is (a click allows it). */
  joinNow() {
    this.blocked = false;
    this.dispatchEvent(new CustomEvent("unblocked"));
    this.correct(true);
    if (this.state && !this.state.playing) this.status();
  }

  /** A play, pause or seek on this element: tell the group when it is a person's, and new to it. */
  local(action) {
    const s = this.state;
    const v = this.video;
    if (action === "pause" && this.ownPauses > 0) {
      this.ownPauses -= 1; // our own pause (correcting, closing, unloading) landing
      this.showDifference();
      return;
    }
    if (action === "seek") {
      const own = this.ownSeek;
      this.ownSeek = null;
      if (own !== null && Math.abs(v.currentTime - own) < 0.01) return; // the sync's seek landing
    }
    if (!this.loadedName || !this.watching || this.switching || this.loading || !this.intent()) {
      this.showDifference();
      return;
    }
    if (action === "play") {
      if (this.blocked) this.joinNow(); // the element's own play button, after a refusal
      if (s?.playing) return;
    }
    if (action === "pause") {
      if (!s || !s.playing) return;
      // A play() of ours interrupted, or the video ending: not a person's pause. The group plays on.
      if (this.playPending || v.ended || (Number.isFinite(v.duration) && v.currentTime >= v.duration - END_MARGIN)) {
        this.showDifference();
        return;
      }
    }
    if (action === "seek") {
      const expected = this.expected();
      if (expected !== null && Math.abs(v.currentTime - expected) < 0.5) return;
    }
    this.control(action, v.currentTime);
  }

  /** Our own video_control came back from the server (it is stored in order with the chat). */
  confirmOwn() {
    this.unconfirmed.shift();
  }

  awaitingEcho() {
    const now = performance.now();
    while (this.unconfirmed.length && now - this.unconfirmed[0] > ECHO_TIMEOUT_MS) this.unconfirmed.shift();
    return this.unconfirmed.length > 0;
  }

  /** Sends a control and adopts it at once (the server's stamped state follows). */
  control(action, position, { videoName = this.loadedName, rate = this.state?.rate || 1 } = {}) {
    const playing = action === "play" ? true : action === "pause" ? false : Boolean(this.state?.playing);
    this.state = { video_name: videoName, position, playing, rate, updated_at: this.io.clock.serverNow() };
    const sent = this.io.send({ type: "video_control", video_action: action, video_time: Math.max(0, position), video_name: videoName, rate });
    if (!sent) this.status("Offline: your control will not reach the group until the connection is back.");
    else {
      this.unconfirmed.push(performance.now());
      this.dispatchEvent(new CustomEvent("control", { detail: { action, position, videoName } }));
      this.status();
    }
  }

  /** Start a video for everyone from the beginning. */
  async start(videoName) {
    this.watching = true;
    if (videoName !== this.loadedName) await this.load(videoName);
    this.control("play", 0, { videoName });
    this.correct(true);
  }

  /** Tells the view what to show: a message, else the group's state and whether this player differs. */
  status(message) {
    this.dispatchEvent(new CustomEvent("status", { detail: { message: message || "", state: this.state, differs: this.differs(), blocked: this.blocked } }));
  }
}
