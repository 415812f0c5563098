// "Watch together": the group's video library (upload with progress, list, play for everyone) and the
// synchronized player.
//
// The player is each member's own: it opens when they open it (or when they press Play for everyone),
// and a reload reopens it (sessionStorage remembers it per tab). Opening joins the group where it is;
// closing stops this player only. Neither tells the group anything. While the group plays and the
// panel is closed, the header says so next to the Watch together button.
//
// Subtitles are each member's own too: the loaded video's tracks become <track> elements (the
// browser's captions menu offers them, and so does the Subtitles menu here); the choice is kept per
// video in localStorage and never sent to the group. Changing quality keeps them (same element).

import { describeError } from "../api.js";
import { confirmDialog, formatClock, h, promptDialog, replaceChildren, toast } from "../dom.js";
import { SyncedPlayer } from "../sync.js";

const STATE_TEXT = { queued: "waiting", running: "preparing", failed: "failed", cancelled: "cancelled" };
const WATCHING_KEY = "huddle.watching"; // sessionStorage: the groups whose player this tab has open
const TAB_KEY = "huddle.tab"; // sessionStorage: this tab's id for "who is watching" (a reload keeps it)
const RENEW_MS = 20_000; // the server keeps a tab's "watching" for 60 s after its last renewal
const SUBTITLES_KEY = "huddle.subtitles"; // localStorage: {video id: track id or "off"}, this member's choice
const SUBTITLES_KEPT = 200; // videos remembered; the oldest choices are forgotten first

function subtitleChoices() {
  try {
    const choices = JSON.parse(localStorage.getItem(SUBTITLES_KEY) || "{}");
    return choices && typeof choices === "object" && !Array.isArray(choices) ? choices : {};
  } catch {
    return {};
  }
}

function rememberSubtitles(videoId, choice) {
  const choices = subtitleChoices();
  delete choices[videoId]; // re-added last: the most recent choices are kept
  choices[videoId] = choice;
  const ids = Object.keys(choices);
  for (const id of ids.slice(0, Math.max(0, ids.length - SUBTITLES_KEPT))) delete choices[id];
  try {
    localStorage.setItem(SUBTITLES_KEY, JSON.stringify(choices));
  } catch {
    // storage full or disabled: the choice holds for this page only
  }
}

function trackLabel(track) {
  return track.kind === "captions" ? `${track.label} (captions)` : track.label;
}

/** The form for a new subtitle track: a file, its language, a label and its kind. */
function subtitleDialog(title) {
  return new Promise((resolve) => {
    const file = h("input", { type: "file", id: "subtitle-file", name: "file", required: true, accept: ".vtt,.srt,text/vtt,application/x-subrip" });
    const language = h("input", {
      id: "subtitle-language",
      name: "language",
      required: true,
      maxLength: 35,
      autocomplete: "off",
      value: (navigator.language || "en").split("-")[0],
      aria: { describedby: "subtitle-language-hint" },
    });
    const label = h("input", { id: "subtitle-label", name: "label", maxLength: 100, autocomplete: "off", placeholder: "e.g. English" });
    const kind = h(
      "select",
      { id: "subtitle-kind", name: "kind" },
      h("option", { value: "subtitles", text: "Subtitles (a translation)" }),
      h("option", { value: "captions", text: "Captions (with sounds, for the deaf and hard of hearing)" }),
    );
    const ok = h("button", { type: "submit", value: "ok", class: "primary", text: "Add subtitles" });
    const cancel = h("button", { type: "submit", value: "cancel", formNoValidate: true, text: "Cancel" });
    const dialog = h(
      "dialog",
      { class: "confirm subtitle-dialog", aria: { labelledby: "subtitle-dialog-title" } },
      h(
        "form",
        { method: "dialog" },
        h("p", { id: "subtitle-dialog-title", text: title }),
        h("div", { class: "field" }, h("label", { for: "subtitle-file", text: "Subtitle file (WebVTT or SRT)" }), file),
        h(
          "div",
          { class: "field" },
          h("label", { for: "subtitle-language", text: "Language" }),
          language,
          h("small", { id: "subtitle-language-hint", class: "muted", text: "A language tag: en, fr, pt-BR, zh-Hant…" }),
        ),
        h("div", { class: "field" }, h("label", { for: "subtitle-label", text: "Label in the menu (optional)" }), label),
        h("div", { class: "field" }, h("label", { for: "subtitle-kind", text: "Kind" }), kind),
        h("div", { class: "row end" }, cancel, ok),
      ),
    );
    dialog.addEventListener("close", () => {
      const chosen = file.files?.[0];
      resolve(dialog.returnValue === "ok" && chosen ? { file: chosen, language: language.value.trim(), label: label.value.trim(), kind: kind.value } : null);
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    file.focus();
  });
}

function tabId() {
  let id = sessionStorage.getItem(TAB_KEY);
  if (!id) {
    id = crypto.randomUUID();
    sessionStorage.setItem(TAB_KEY, id);
  }
  return id;
}

function watchingGroups() {
  try {
    return new Set(JSON.parse(sessionStorage.getItem(WATCHING_KEY) || "[]"));
  } catch {
    return new Set();
  }
}

function rememberWatching(groupId, on) {
  const groups = watchingGroups();
  if (on) groups.add(groupId);
  else groups.delete(groupId);
  sessionStorage.setItem(WATCHING_KEY, JSON.stringify([...groups]));
}

function qualityLabel(quality) {
  return quality.quality === "original" ? `Original${quality.height ? ` (${quality.height}p)` : ""}` : quality.quality;
}

function formatSize(bytes) {
  if (!Number.isFinite(bytes)) return "";
  if (bytes < 1024 * 1024) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

export class PlayerPanel {
  constructor(app, chatView) {
    this.app = app;
    this.chatView = chatView;
    this.groupId = chatView.groupId;
    this.video = h("video", { id: "shared-video", controls: true, playsInline: true, preload: "auto", aria: { label: "Shared video" } });
    this.statusLine = h("p", { class: "player-status", role: "status" });
    this.groupLine = h("p", { class: "player-group", id: "player-group", hidden: true });
    this.watchersLine = h("p", { class: "player-watchers muted", id: "player-watchers" });
    this.joinButton = h("button", { type: "button", class: "primary", hidden: true, text: "Press play to join", on: { click: () => this.sync.joinNow() } });
    this.speed = h(
      "select",
      { id: "player-speed", on: { change: () => this.sync.control("rate", this.video.currentTime, { rate: Number(this.speed.value) }) } },
      [0.5, 0.75, 1, 1.25, 1.5, 2].map((rate) => h("option", { value: String(rate), text: `${rate}×`, selected: rate === 1 })),
    );
    this.quality = h("select", { id: "player-quality", on: { change: () => this.changeQuality() } });
    this.qualityLabel = h("label", { for: "player-quality", class: "speed", text: "Quality" });
    this.subtitles = h("select", { id: "player-subtitles", on: { change: () => this.chooseSubtitles(this.subtitles.value) } });
    this.subtitlesLabel = h("label", { for: "player-subtitles", class: "speed", text: "Subtitles" });
    this.driftLine = h("p", { class: "player-drift muted", id: "player-drift" });
    this.unmute = h("button", {
      type: "button",
      class: "secondary",
      hidden: true,
      text: "Unmute",
      on: {
        click: () => {
          this.video.muted = false;
          this.unmute.hidden = true;
        },
      },
    });
    this.videos = h("ul", { class: "video-list", aria: { label: "Videos in this group" } });
    this.libraryNote = h("p", { class: "muted" });
    this.subtitleNote = h("p", { class: "muted", id: "subtitle-note", role: "status" }); // add/remove outcomes
    this.progress = h("progress", { max: 100, value: 0, hidden: true, id: "upload-progress", aria: { label: "Upload progress" } });
    this.progressText = h("span", { class: "muted", id: "upload-progress-text", role: "status" });
    this.fileInput = h("input", { type: "file", id: "video-file", accept: "video/*" });
    this.uploadForm = h(
      "form",
      { class: "upload", aria: { label: "Upload a video" } },
      h("label", { for: "video-file", text: "Video file to upload" }),
      h("div", { class: "row" }, this.fileInput, h("button", { type: "submit", class: "primary", text: "Upload" })),
      h("div", { class: "row" }, this.progress, this.progressText),
    );
    this.uploadForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.upload();
    });
    this.closeButton = h("button", { type: "button", class: "icon", aria: { label: "Close player" }, text: "×", on: { click: () => this.toggle(false) } });
    this.el = h(
      "section",
      { class: "player", id: "player", hidden: true, aria: { labelledby: "player-title" } },
      h("div", { class: "panel-header" }, h("h2", { id: "player-title", tabIndex: -1, text: "Watch together" }), this.closeButton),
      h("div", { class: "player-body" },
        h(
          "div",
          { class: "screen" },
          this.video,
          h(
            "div",
            { class: "row" },
            this.statusLine,
            this.unmute,
            h("label", { for: "player-speed", class: "speed", text: "Speed" }),
            this.speed,
            this.qualityLabel,
            this.quality,
            this.subtitlesLabel,
            this.subtitles,
          ),
          h("div", { class: "row" }, this.groupLine, this.joinButton),
          this.watchersLine,
          this.driftLine,
        ),
        h("div", { class: "library" }, h("h3", { text: "Library" }), this.libraryNote, this.videos, this.subtitleNote, this.uploadForm),
      ),
    );
    this.sync = new SyncedPlayer(this.video, {
      clock: app.realtime.clock,
      send: (frame) => app.realtime.send({ ...frame, group_id: this.groupId }),
      resolve: (name, options) => app.media.sourceFor(this.groupId, name, options),
    });
    this.sync.watching = false; // until the member opens the player
    this.lastControl = null; // {user_id, user, video_action, video_time}: who moved the group last
    this.sync.addEventListener("control", (event) => {
      const me = this.app.store.me;
      this.lastControl = { user_id: me?.id, user: me?.display_name || me?.name, video_action: event.detail.action, video_time: event.detail.position };
    });
    this.sync.addEventListener("blocked", () => {
      this.joinButton.hidden = false;
    });
    this.sync.addEventListener("unblocked", () => {
      this.joinButton.hidden = true;
    });
    this.sync.addEventListener("status", (event) => {
      this.renderStatus(event.detail);
      this.renderQualities();
      this.renderSubtitles();
      const rate = String(this.sync.state?.rate || 1);
      if ([...this.speed.options].some((o) => o.value === rate)) this.speed.value = rate;
    });
    this.sync.addEventListener("muted", () => {
      this.unmute.hidden = false;
    });
    this.sync.addEventListener("drift", (event) => {
      const ms = Math.round(event.detail.drift * 1000);
      this.driftLine.textContent = `In sync within ${Math.abs(ms)} ms (clock offset ${Math.round(app.realtime.clock.offset)} ms)`;
      this.driftLine.dataset.drift = String(event.detail.drift);
    });
    this.onChange = (event) => {
      const { kind, groupId, state, frame, from, to } = event.detail;
      if (groupId !== this.groupId) return;
      if (kind === "playback") this.follow(state);
      else if (kind === "video-renamed") this.sync.renamed(from, to);
      else if (kind === "message" && frame.type === "video_control") this.followControl(frame);
      else if (kind === "videos") this.renderLibrary();
      else if (kind === "watching" || kind === "members") this.renderWatchers();
      else if (kind === "history") {
        const latest = this.latestControl();
        if (latest && !(this.lastControl?.seq >= latest.seq)) {
          this.lastControl = latest;
          this.sync.status();
        }
      }
    };
    app.store.addEventListener("change", this.onChange);
    // The browser's own captions menu: what the member picks there is remembered like the menu here.
    this.onTrackChange = () => this.nativeSubtitlesChanged();
    this.video.textTracks.addEventListener("change", this.onTrackChange);
    // A new source (another quality) keeps the <track> elements; make sure the choice still shows.
    this.video.addEventListener("loadedmetadata", () => this.applySubtitles());
  }

  get open() {
    return !this.el.hidden;
  }

  /**
   * Open or close this member's player. Opening joins the group at its current position and play
   * state; closing stops this player. The group is told neither (see sync.js).
   */
  toggle(open = !this.open, { focus = true } = {}) {
    this.el.hidden = !open;
    this.chatView.watchButton.setAttribute("aria-expanded", String(open));
    rememberWatching(this.groupId, open);
    this.sync.watch(open);
    this.announce(open);
    this.renderHint();
    if (open) {
      this.refreshLibrary();
      if (focus) this.el.querySelector("#player-title").focus();
    } else if (focus) this.chatView.watchButton.focus();
  }

  /** Tell the server (and through it the group) whether this tab has the player open; renewed. */
  announce(open) {
    clearInterval(this.renewTimer);
    const path = `/api/v1/groups/${this.groupId}/watching`;
    const tab = tabId();
    const told = (request) =>
      request.then(
        (answer) => this.app.store.setWatching(this.groupId, answer.user_ids),
        () => {}, // best effort: the next renewal tries again, and entries expire on their own
      );
    if (!open) {
      told(this.app.api.request("DELETE", path, { query: { tab } }));
      return;
    }
    const renew = () => told(this.app.api.put(path, { tab }));
    renew();
    this.renewTimer = setInterval(renew, RENEW_MS);
  }

  /** The tab is going away (closed, reloaded, navigated off): its "watching" ends now, not in 60 s. */
  leaving() {
    if (!this.open) return;
    const url = `/api/v1/groups/${this.groupId}/watching?tab=${encodeURIComponent(tabId())}`;
    this.app.api.session.accessToken().then(
      (token) => fetch(url, { method: "DELETE", keepalive: true, credentials: "omit", headers: { Authorization: `Bearer ${token}` } }).catch(() => {}),
      () => {},
    );
  }

  /** "Watching: Ada, Bo and you" under the player. */
  renderWatchers() {
    const ids = this.app.store.watching.get(this.groupId) || [];
    const names = this.watcherNames(ids);
    this.watchersLine.textContent = names.length ? `Watching: ${names.join(", ")}` : "";
    this.renderHint();
  }

  watcherNames(ids) {
    const store = this.app.store;
    const chat = store.chats.get(this.groupId);
    const unknown = ids.filter((id) => id !== store.me?.id && !chat?.memberName(id));
    // A member this tab has not heard of yet (added while the list loaded): ask once for the list.
    this.askedFor ??= new Set();
    if (unknown.some((id) => !this.askedFor.has(id))) {
      for (const id of unknown) this.askedFor.add(id);
      this.app.reloadMembers(this.groupId);
    }
    return ids.map((id) => (id === store.me?.id ? "you" : chat?.memberName(id) || "a member"));
  }

  /** Opening the chat: a player this tab had open (before a reload) opens again, where the group is. */
  restore() {
    this.onPageHide = () => this.leaving();
    window.addEventListener("pagehide", this.onPageHide);
    this.app.api
      .get(`/api/v1/groups/${this.groupId}/watching`)
      .then((answer) => this.app.store.setWatching(this.groupId, answer.user_ids))
      .catch(() => {});
    const state = this.app.store.playback.get(this.groupId);
    if (state) this.follow(state);
    this.lastControl = this.latestControl();
    if (watchingGroups().has(this.groupId)) this.toggle(true, { focus: false });
    this.renderHint();
  }

  follow(state) {
    if (!state) return;
    this.sync.apply(state);
    this.renderHint();
  }

  /** The newest video_control the chat has loaded: who moved the group's player last. */
  latestControl() {
    const messages = this.app.store.chats.get(this.groupId)?.messages;
    let latest = null;
    for (const frame of messages?.values() || []) if (frame.type === "video_control" && (!latest || frame.seq > latest.seq)) latest = frame;
    return latest;
  }

  /** The header's note while the group watches and this player is closed. */
  renderHint() {
    const hint = this.chatView.watchHint;
    if (!hint) return;
    const state = this.sync.state;
    const others = (this.app.store.watching.get(this.groupId) || []).filter((id) => id !== this.app.store.me?.id);
    const parts = [];
    if (state?.video_name && state.playing) parts.push(`Playing now: ${state.video_name}`);
    if (others.length) parts.push(`${this.watcherNames(others).join(", ")} watching`);
    hint.hidden = this.open || !parts.length;
    hint.textContent = hint.hidden ? "" : parts.join(" · ");
  }

  /** The status line: a message, else the group's state; and the group's state again, prominently,
   * when this player shows something else ("Paused by Ada at 12:04"). */
  renderStatus({ message, state, differs, blocked }) {
    const group = this.describeGroup(state);
    this.statusLine.textContent = message || group;
    this.groupLine.hidden = !(differs && state?.video_name);
    this.groupLine.textContent = this.groupLine.hidden ? "" : `The group: ${group}`;
    this.joinButton.hidden = !blocked;
    this.renderHint();
  }

  describeGroup(state) {
    if (!state?.video_name) return "";
    const store = this.app.store;
    // The state names who set it; the newest control in the loaded chat says what they did.
    const by = state.updated_by ?? this.lastControl?.user_id ?? null;
    const last = this.lastControl?.user_id === by ? this.lastControl : null;
    const action = last ? last.video_action : state.playing ? "play" : "pause";
    const who = by == null ? null : by === store.me?.id ? "you" : store.chats.get(this.groupId)?.memberName(by) || last?.user || null;
    const at = formatClock(state.playing ? this.sync.expected() : state.position);
    if (state.playing) {
      const since = who && action === "play" ? ` (started by ${who})` : "";
      return `Playing for the group · ${state.video_name}${since}`;
    }
    return `Paused${who && action === "pause" ? ` by ${who}` : ""} at ${at} · ${state.video_name}`;
  }

  /** The seed's video_control message: a state stamped by its created_at (older ones are ignored). */
  followControl(frame) {
    this.lastControl = frame;
    if (frame.user_id === this.app.store.me?.id) {
      this.sync.confirmOwn(); // ours, already applied when it was sent
      return;
    }
    const stamp = Date.parse(frame.created_at);
    const previous = this.sync.state;
    const playing = frame.video_action === "play" ? true : frame.video_action === "pause" ? false : Boolean(previous?.playing);
    this.follow({
      group_id: frame.group_id,
      video_name: frame.video_name || previous?.video_name || null,
      position: frame.video_time,
      playing,
      rate: previous?.rate || 1,
      updated_at: stamp,
    });
  }

  async refreshLibrary() {
    try {
      await this.app.media.refresh(this.groupId);
    } catch (failure) {
      this.libraryNote.textContent = `Could not load the library: ${describeError(failure)}`;
      return;
    }
    this.renderLibrary();
  }

  /** The quality menu: the loaded video's qualities that are ready (the original always is). */
  renderQualities() {
    const video = this.app.media.videos(this.groupId).find((v) => v.name === this.sync.loadedName);
    const ready = this.app.media.playable(video);
    const hidden = ready.length < 2;
    this.quality.hidden = this.qualityLabel.hidden = hidden;
    if (hidden) return;
    const wanted = ready.some((q) => q.quality === this.app.media.preferred) ? this.app.media.preferred : "original";
    const current = [...this.quality.options].map((o) => o.value).join();
    if (current !== ready.map((q) => q.quality).join()) {
      replaceChildren(
        this.quality,
        ready.map((q) => h("option", { value: q.quality, text: qualityLabel(q) })),
      );
    }
    this.quality.value = wanted;
  }

  /** The video the player has loaded (from the library), or undefined. */
  loadedVideo() {
    return this.app.media.videos(this.groupId).find((v) => v.name === this.sync.loadedName);
  }

  /** <track> elements and the Subtitles menu for the loaded video's tracks (those signed for us). */
  renderSubtitles() {
    const video = this.loadedVideo();
    const tracks = video ? (video.subtitles || []).filter((t) => t.url) : [];
    const key = (track) => `${video.id}:${track.id}`;
    const wanted = new Map(tracks.map((track) => [key(track), track]));
    for (const element of [...this.video.querySelectorAll("track")]) {
      const track = wanted.get(element.dataset.key);
      // Gone, or failed (its signed URL expired) and now signed afresh: a new element loads it again.
      const failed = element.readyState === HTMLTrackElement.ERROR && track && element.src !== new URL(track.url, location.href).href;
      if (!track || failed) element.remove();
    }
    const present = new Set([...this.video.querySelectorAll("track")].map((element) => element.dataset.key));
    for (const track of tracks) {
      if (present.has(key(track))) continue;
      this.video.append(
        h("track", {
          kind: track.kind,
          srclang: track.language,
          label: trackLabel(track),
          src: track.url,
          data: { key: key(track), id: String(track.id) },
          on: { error: () => this.trackFailed() },
        }),
      );
    }
    this.subtitles.hidden = this.subtitlesLabel.hidden = !tracks.length;
    const values = ["off", ...tracks.map((t) => String(t.id))];
    if ([...this.subtitles.options].map((o) => o.value).join() !== values.join()) {
      replaceChildren(
        this.subtitles,
        h("option", { value: "off", text: "Off" }),
        tracks.map((t) => h("option", { value: String(t.id), text: trackLabel(t), lang: t.language })),
      );
    }
    this.applySubtitles();
  }

  /** A track did not load (its signed URL expired while the tab stayed open): fetch the video for
   * fresh URLs, at most every 10 s, and put the tracks back. */
  trackFailed() {
    const now = performance.now();
    const name = this.sync.loadedName;
    if (!name || now - (this.trackRetriedAt ?? -Infinity) < 10_000) return;
    this.trackRetriedAt = now;
    this.app.media.sourceFor(this.groupId, name, { fresh: true }).then(
      () => this.renderSubtitles(),
      () => {},
    );
  }

  /** Show the track this member chose for the loaded video (none by default); the others stay off. */
  applySubtitles() {
    const video = this.loadedVideo();
    if (!video) return;
    const elements = [...this.video.querySelectorAll("track")];
    const remembered = String(subtitleChoices()[video.id] ?? "off");
    const chosen = elements.some((element) => element.dataset.id === remembered) ? remembered : "off";
    this.subtitles.value = chosen;
    for (const element of elements) {
      const mode = element.dataset.id === chosen ? "showing" : "disabled";
      if (element.track.mode !== mode) element.track.mode = mode;
    }
  }

  /** The member picked a track (or Off) in the Subtitles menu: theirs alone, kept for this video. */
  chooseSubtitles(choice) {
    const video = this.loadedVideo();
    if (!video) return;
    rememberSubtitles(video.id, choice);
    this.applySubtitles();
  }

  nativeSubtitlesChanged() {
    const video = this.loadedVideo();
    if (!video) return;
    const showing = [...this.video.querySelectorAll("track")].find((element) => element.track.mode === "showing");
    const choice = showing ? showing.dataset.id : "off";
    if (choice === this.subtitles.value) return; // the change was ours (applySubtitles)
    rememberSubtitles(video.id, choice);
    this.subtitles.value = choice;
  }

  /** This member's choice only: the same video at the same position; the group is not told. */
  changeQuality() {
    this.app.media.prefer(this.quality.value);
    this.sync.switchSource();
  }

  /** A progress bar per rendition still being made (and a note for those that failed). */
  processing(video) {
    return (video.qualities || [])
      .filter((q) => q.state !== "done")
      .map((q) =>
        h(
          "span",
          { class: "rendition muted" },
          q.state === "running" || q.state === "queued"
            ? h("progress", { max: 100, value: q.progress || 0, aria: { label: `${q.quality} version of ${video.title}` } })
            : null,
          h("span", { text: `${q.quality}: ${STATE_TEXT[q.state] || q.state}${q.state === "running" ? ` ${q.progress} %` : ""}` }),
        ),
      );
  }

  renderLibrary() {
    this.renderQualities();
    this.renderSubtitles();
    const media = this.app.media;
    this.uploadForm.hidden = !media.available;
    if (!media.available) {
      this.libraryNote.textContent = "This server has no video library yet: a video started by another member still plays here.";
      replaceChildren(this.videos);
      return;
    }
    const videos = media.videos(this.groupId);
    this.libraryNote.textContent = videos.length ? "" : "No videos yet. Upload one to watch it together.";
    replaceChildren(
      this.videos,
      videos.map((video) =>
        h(
          "li",
          { class: ["video", this.sync.loadedName === video.name && "current"] },
          h("span", { class: "video-name", text: video.title }),
          h("span", { class: "muted", text: [video.duration ? formatClock(video.duration) : "", formatSize(video.size)].filter(Boolean).join(" · ") }),
          ...this.processing(video),
          this.subtitleList(video),
          h(
            "span",
            { class: "row" },
            h("button", {
              type: "button",
              class: "secondary",
              aria: { label: `Play ${video.title} for everyone` },
              text: "Play for everyone",
              on: { click: () => this.sync.start(video.name) },
            }),
            this.mayManage(video) && [
              h("button", { type: "button", class: "link", aria: { label: `Add subtitles to ${video.title}` }, text: "Add subtitles", on: { click: () => this.addSubtitles(video) } }),
              h("button", { type: "button", class: "link", aria: { label: `Rename ${video.title}` }, text: "Rename", on: { click: () => this.rename(video) } }),
              h("button", { type: "button", class: "link danger-text", aria: { label: `Delete ${video.title}` }, text: "Delete", on: { click: () => this.remove(video) } }),
            ],
          ),
        ),
      ),
    );
  }

  /** "Subtitles: English, Français (captions)", with a Remove button each for those who manage it. */
  subtitleList(video) {
    const tracks = video.subtitles || [];
    if (!tracks.length) return null;
    const manage = this.mayManage(video);
    return h(
      "span",
      { class: "subtitle-list muted" },
      "Subtitles: ",
      tracks.map((track, index) => [
        index ? ", " : "",
        h("span", { lang: track.language, text: trackLabel(track) }),
        manage &&
          h("button", {
            type: "button",
            class: "link danger-text",
            aria: { label: `Remove subtitles ${track.label} from ${video.title}` },
            text: "Remove",
            on: { click: () => this.removeSubtitles(video, track) },
          }),
      ]),
    );
  }

  async addSubtitles(video) {
    const chosen = await subtitleDialog(`Add subtitles to ${video.title}`);
    if (!chosen) return;
    this.subtitleNote.textContent = `Adding subtitles ${chosen.file.name}…`;
    try {
      const track = await this.app.media.addSubtitles(video, chosen.file, chosen);
      this.subtitleNote.textContent = `Subtitles “${track.label}” added to ${video.title}.`;
    } catch (failure) {
      this.subtitleNote.textContent = `Could not add subtitles to ${video.title}: ${describeError(failure)}`;
    }
  }

  async removeSubtitles(video, track) {
    if (!(await confirmDialog(`Remove the subtitles “${track.label}” from ${video.title} for everyone?`, { confirm: "Remove subtitles", danger: true }))) return;
    try {
      await this.app.media.deleteSubtitles(video, track);
      this.subtitleNote.textContent = `Subtitles “${track.label}” removed from ${video.title}.`;
    } catch (failure) {
      this.subtitleNote.textContent = `Could not remove the subtitles: ${describeError(failure)}`;
    }
  }

  /** The uploader and the group's admins rename and delete a video (the server checks it too). */
  mayManage(video) {
    const store = this.app.store;
    return video.uploader_id === store.me?.id || store.groups.get(this.groupId)?.role === "admin";
  }

  async rename(video) {
    const name = await promptDialog(`Rename ${video.title}`, { label: "New video name", value: video.name, confirm: "Rename" });
    if (!name || name === video.name) return;
    try {
      await this.app.api.patch(`/api/v1/videos/${video.id}`, { name });
      this.libraryNote.textContent = "";
      await this.refreshLibrary();
    } catch (failure) {
      this.libraryNote.textContent = `Could not rename ${video.title}: ${describeError(failure)}`;
    }
  }

  async remove(video) {
    const question = `Delete ${video.title} for everyone? The file is deleted too; this cannot be undone.`;
    if (!(await confirmDialog(question, { confirm: "Delete video", danger: true }))) return;
    try {
      await this.app.api.delete(`/api/v1/videos/${video.id}`);
      await this.refreshLibrary();
    } catch (failure) {
      this.libraryNote.textContent = `Could not delete ${video.title}: ${describeError(failure)}`;
    }
  }

  async upload() {
    const file = this.fileInput.files?.[0];
    if (!file) {
      this.progressText.textContent = "Choose a video file first.";
      this.fileInput.focus();
      return;
    }
    this.progress.hidden = false;
    this.progress.value = 0;
    const submit = this.uploadForm.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      await this.app.media.upload(this.groupId, file, (sent, total) => {
        const percent = total ? Math.floor((sent / total) * 100) : 0;
        this.progress.value = percent;
        this.progressText.textContent = `Uploading ${file.name}: ${percent} %`;
      });
      this.progressText.textContent = `${file.name} uploaded.`;
      this.fileInput.value = "";
      await this.refreshLibrary();
    } catch (failure) {
      this.progressText.textContent = `Upload failed: ${describeError(failure)}`;
      toast(`Upload failed: ${describeError(failure)}`);
    } finally {
      submit.disabled = false;
    }
  }

  destroy() {
    if (this.open) this.announce(false); // leaving the chat closes this player
    clearInterval(this.renewTimer);
    window.removeEventListener("pagehide", this.onPageHide);
    this.app.store.removeEventListener("change", this.onChange);
    this.video.textTracks.removeEventListener("change", this.onTrackChange);
    this.sync.destroy();
    this.video.pause();
    this.video.removeAttribute("src");
    this.video.load();
  }
}
