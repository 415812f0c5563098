// Synchronized playback on one <video>: the group's playback state (position at a server time,
// playing, rate) is the truth; local controls send `video_control` and everyone (the sender too)
// applies the state the server stamps and broadcasts.
//
// - Late join: where the group is now = position + (server now - updated_at) * rate when playing,
//   with server now = local clock + the offset measured by ping/pong (see Clock in realtime.js).
// - Drift: checked every second while playing. A small drift is absorbed by nudging playbackRate a
//   few percent (no visible jump); a large one (> SEEK_DRIFT s) is fixed by seeking.
// - No echo: applying a remote state calls play/pause/seek on the element, which fire the same
//   events as a user's click. A local event is only sent when it disagrees with the state (a play
//   while the state says playing, or a seek that lands where the state expects, is ours, not the
//   user's), and the "seeked" of a seek made by the sync itself is recognised by its target.
// - Own controls: until the server echoes our latest control back, states it sends are older than
//   the user's intent and are not applied (a pause's state must not undo the seek that followed it).

export const SEEK_DRIFT = 0.75; // seconds: beyond this, seek instead of nudging the rate
const SETTLED_DRIFT = 0.04; // seconds: close enough, play at the group's rate
const MAX_NUDGE = 0.08; // at most 8 % faster or slower while catching up
const ECHO_TIMEOUT_MS = 3_000; // a control the server never echoes (refused, lost) stops counting

export class SyncedPlayer extends EventTarget {
  /**
   * @param {HTMLVideoElement} video
   * @param {{clock: {serverNow(): number}, send(frame: object): boolean, resolve(name: string): Promise<string|null>}} io
   */
  constructor(video, io) {
    super();
    this.video = video;
    this.io = io;
    this.state = null;
    this.serverStamp = 0;
    this.loadedName = null;
    this.ownSeek = null; // where the sync itself last seeked to, so its "seeked" is not sent back
    this.ownRate = null; // the playbackRate the sync itself last set
    this.unconfirmed = []; // when each of our controls left, until the server echoes it back
    this.switching = false; // changing quality (switchSource): the element's events are not sent
    this.timer = setInterval(() => this.correct(false), 1000);
    this.listeners = {
      play: () => this.local("play"),
      pause: () => this.local("pause"),
      seeked: () => this.local("seek"),
      loadedmetadata: () => this.correct(true),
      error: () => this.recover(),
      ratechange: () => this.rateChanged(),
    };
    for (const [name, fn] of Object.entries(this.listeners)) video.addEventListener(name, fn);
  }

  destroy() {
    clearInterval(this.timer);
    for (const [name, fn] of Object.entries(this.listeners)) this.video.removeEventListener(name, fn);
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
    else if (state.video_name !== this.loadedName) await this.load(state.video_name);
    this.correct(true);
    this.status();
  }

  /** The element failed (a signed URL expired, the network dropped): fetch a fresh URL, carry on. */
  async recover() {
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
    this.ownSeek = null;
    this.video.src = url;
    this.video.load();
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
    this.video.pause();
    this.video.removeAttribute("src");
    this.video.load();
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
    this.ownSeek = null;
    this.video.src = url;
    this.video.load();
  }

  /** Bring the element to the state: play/pause, then seek or nudge the rate. */
  correct(hard) {
    const s = this.state;
    const v = this.video;
    if (!s || !s.video_name || s.video_name !== this.loadedName || v.readyState < 1) return;
    // A seek in progress is someone's intent (the user's, or ours): let it land; "seeked" decides.
    if (v.seeking && !hard) return;
    const target = this.clamp(this.expected());
    const drift = v.currentTime - target;
    if (s.playing) {
      if (Math.abs(drift) > SEEK_DRIFT || (hard && Math.abs(drift) > 0.25)) {
        this.seekTo(target);
        this.setRate(s.rate);
      } else if (Math.abs(drift) > SETTLED_DRIFT) this.setRate(s.rate * (1 - Math.max(-MAX_NUDGE, Math.min(MAX_NUDGE, drift * 0.25))));
      else this.setRate(s.rate);
      if (v.paused && !(v.ended && target >= v.duration)) this.play();
    } else {
      if (!v.paused) v.pause();
      if (Math.abs(drift) > 0.05) this.seekTo(target);
      this.setRate(s.rate);
    }
    this.lastDrift = drift;
    this.dispatchEvent(new CustomEvent("drift", { detail: { drift } }));
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
    this.video.play().catch((error) => {
      if (error?.name !== "NotAllowedError") return;
      // Autoplay with sound needs a gesture: start muted and offer to unmute, rather than fall behind.
      this.video.muted = true;
      this.video.play().catch(() => this.status("Press play to join the group's playback."));
      this.dispatchEvent(new CustomEvent("muted"));
    });
  }

  /** A user's play, pause or seek on this element: tell the group, unless it is the sync's own doing. */
  local(action) {
    const s = this.state;
    const v = this.video;
    if (!this.loadedName || this.switching) return;
    if (action === "play" && s?.playing) return;
    if (action === "pause" && (!s || !s.playing)) return;
    if (action === "seek") {
      const own = this.ownSeek;
      this.ownSeek = null;
      if (own !== null && Math.abs(v.currentTime - own) < 0.01) return; // the sync's seek landing
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
      this.status();
    }
  }

  /** Start a video for everyone from the beginning. */
  async start(videoName) {
    if (videoName !== this.loadedName) await this.load(videoName);
    this.control("play", 0, { videoName });
    this.correct(true);
  }

  status(message) {
    const s = this.state;
    let text = message;
    if (!text && s?.video_name) text = `${s.playing ? "Playing" : "Paused"} for the group · ${s.video_name}`;
    this.dispatchEvent(new CustomEvent("status", { detail: { text: text || "" } }));
  }
}
