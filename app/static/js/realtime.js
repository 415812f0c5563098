// The real-time connection, on one of two transports with one interface (status, frames, send, clock):
//
// - "ws": the one user-level WebSocket (/ws): ticket authentication, resume by seq, keep-alive pings
//   that double as clock-sync samples.
// - "sse": the event stream (GET /api/v1/events) read with fetch, and every socket frame the app
//   sends as its HTTP action, one at a time in the order sent (docs/protocol.md, "Server-Sent Events").
//
// Both reconnect with exponential backoff and full jitter and resume every group from its last seq.

import { ApiError, NetworkError, describeError } from "./api.js";

const PING_EVERY_MS = 20_000; // the server closes a socket silent for 90 s; the brief says <= 30 s
const PONG_TIMEOUT_MS = 10_000; // no pong by then: the connection is dead even if the OS has not noticed
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15_000;
const CLOCK_SAMPLES = 8;
const CLOCK_BURST_MS = [0, 300, 700, 1200]; // clock samples at connect; then one per keep-alive
const STREAM_SILENCE_MS = 40_000; // the server writes at least a comment line every 20 s
const TRANSPORT_KEY = "huddle.transport";
export const TRANSPORTS = ["ws", "sse"];

/**
 * The transport this tab uses: a tab's own choice (`?transport=ws|sse` in any URL of the app,
 * remembered for the tab; `?transport=` forgets it), else the server's REALTIME_TRANSPORT (the shell's
 * `huddle-transport` meta tag), else the WebSocket.
 */
export function chosenTransport() {
  const asked = new URLSearchParams(location.search).get("transport");
  if (TRANSPORTS.includes(asked)) sessionStorage.setItem(TRANSPORT_KEY, asked);
  else if (asked !== null) sessionStorage.removeItem(TRANSPORT_KEY);
  const own = sessionStorage.getItem(TRANSPORT_KEY);
  if (TRANSPORTS.includes(own)) return own;
  const advertised = document.querySelector('meta[name="huddle-transport"]')?.content;
  return TRANSPORTS.includes(advertised) ? advertised : "ws";
}

/** The real-time connection on `transport` ("ws" or "sse"). */
export function createRealtime(transport, api, resumePoints) {
  return transport === "sse" ? new StreamRealtime(api, resumePoints) : new SocketRealtime(api, resumePoints);
}

export const CloseCode = {
  NORMAL: 1000,
  RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
  UNAUTHORIZED: 4401,
  NOT_FOUND: 4404,
  IDLE: 4408,
};

/** A monotonic clock in epoch milliseconds (Date.now can jump when the system clock is set). */
export const localNow = () => performance.timeOrigin + performance.now();

/**
 * NTP-style offset from ping/pong: offset = server_time - (t0 + t1) / 2, where t0 is when the ping
 * left and t1 when the pong arrived. The sample with the smallest round trip is the most precise
 * (its asymmetry is bounded by rtt/2), so the best of the last few is kept.
 */
export class Clock {
  samples = [];
  offset = 0;
  rtt = null;

  add(t0, serverTime, t1 = localNow()) {
    const rtt = t1 - t0;
    if (!(rtt >= 0) || !Number.isFinite(serverTime)) return;
    this.samples.push({ offset: serverTime - (t0 + t1) / 2, rtt });
    if (this.samples.length > CLOCK_SAMPLES) this.samples.shift();
    const best = this.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    this.offset = best.offset;
    this.rtt = best.rtt;
  }

  /** The server's clock now, in epoch milliseconds. */
  serverNow() {
    return localNow() + this.offset;
  }
}

/** What both transports share: status, reconnection with backoff, the clock, frames to the app. */
class Realtime extends EventTarget {
  /**
   * @param {import("./api.js").Api} api
   * @param {() => Record<string, number|null>} resumePoints last seq per group, to resume from
   */
  constructor(api, resumePoints) {
    super();
    this.api = api;
    this.resumePoints = resumePoints;
    this.clock = new Clock();
    this.status = "idle"; // idle | connecting | online | waiting | offline | ended
    this.attempt = 0;
    this.retryAt = 0;
    this.stopped = true;
    this._timer = 0;
    this._onOnline = () => this.reconnectNow();
    this._onOffline = () => this._drop("browser offline");
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener("online", this._onOnline);
    window.addEventListener("offline", this._onOffline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this._onOnline);
    window.removeEventListener("offline", this._onOffline);
    clearTimeout(this._timer);
    this._close();
    this._setStatus("idle");
  }

  reconnectNow() {
    if (this.stopped || this.status === "online" || this.status === "connecting") return;
    clearTimeout(this._timer);
    this.connect();
  }

  /** `ready`: the connection is up. */
  _ready(frame) {
    this.attempt = 0;
    this.userId = frame.user_id;
    this._setStatus("online");
  }

  _frame(frame) {
    this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
  }

  /** The connection ended (`code` as a socket's close code): reconnect, or sign in again. */
  _lost(code, reason) {
    this.dispatchEvent(new CustomEvent("disconnected", { detail: { code, reason } }));
    if (code === CloseCode.UNAUTHORIZED) {
      // The session ended (logout elsewhere, password change) or the token aged: one refresh decides.
      this.api.session.refresh().then(
        () => this._retry("unauthorized"),
        (error) => (error instanceof NetworkError ? this._retry("network") : this._ended()),
      );
      return;
    }
    this._retry(code === CloseCode.RESTART ? "restart" : "closed");
  }

  _retry(reason) {
    if (this.stopped) return;
    if (!navigator.onLine) {
      this._setStatus("offline"); // the browser's "online" event reconnects
      return;
    }
    // Exponential backoff with full jitter: spreads the reconnect storm after a server restart.
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = reason === "restart" && this.attempt === 0 ? 250 + Math.random() * 750 : Math.random() * ceiling;
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this._setStatus("waiting");
    this._timer = setTimeout(() => this.connect(), delay);
  }

  _ended() {
    this.stopped = true;
    this._setStatus("ended");
  }

  _setStatus(status) {
    this.status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: { status } }));
  }
}

/** The WebSocket transport (/ws). */
export class SocketRealtime extends Realtime {
  transport = "ws";

  constructor(api, resumePoints) {
    super(api, resumePoints);
    this.ws = null;
    this._ping = 0;
    this._pongDeadline = 0;
  }

  _close() {
    this._stopPings();
    const ws = this.ws;
    this.ws = null;
    ws?.close(CloseCode.NORMAL, "bye");
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN && this.status === "online";
  }

  /** Sends a frame when the socket is up; false otherwise (the caller falls back or queues). */
  send(frame) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Follow more groups (a group created or joined while connected): resume from their last seq. */
  follow(points) {
    if (Object.keys(points).length) this.send({ type: "resume", groups: points });
  }

  async connect() {
    if (this.stopped) return;
    clearTimeout(this._timer);
    this._setStatus("connecting");
    let ticket;
    try {
      ({ ticket } = await this.api.post("/api/v1/auth/ws-ticket"));
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return this._ended();
      return this._retry(error instanceof NetworkError ? "network" : "ticket");
    }
    if (this.stopped) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    // The ticket is single-use and expires in 60 s: unlike an access token, it is worthless once used.
    // huddle.v2: a frame may carry several events, one JSON object per line (written while the
    // previous frame was in flight); huddle.v1 is the fallback of a server that predates it.
    const ws = new WebSocket(`${scheme}//${location.host}/ws?ticket=${encodeURIComponent(ticket)}`, ["huddle.v2", "huddle.v1"]);
    this.ws = ws;
    ws.addEventListener("message", (event) => this._receive(ws, event));
    ws.addEventListener("close", (event) => this._closed(ws, event));
  }

  _receive(ws, event) {
    for (const line of String(event.data).split("\n")) {
      if (ws !== this.ws) return; // an event before this one may have ended the socket
      let frame;
      try {
        frame = JSON.parse(line);
      } catch {
        continue;
      }
      this._event(ws, frame);
    }
  }

  _event(ws, frame) {
    if (frame.type === "ready") {
      this._ready(frame);
      ws.send(JSON.stringify({ type: "resume", groups: this.resumePoints() }));
      this._startPings();
      // A burst of clock samples at start; the keep-alive pings add one every 20 s after that.
      for (const delay of CLOCK_BURST_MS) setTimeout(() => this._sendPing(), delay);
    } else if (frame.type === "pong") {
      this._pongDeadline = 0;
      this.clock.add(frame.t, frame.server_time);
      this.dispatchEvent(new CustomEvent("clock"));
      return;
    }
    this._frame(frame);
  }

  _closed(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this._stopPings();
    if (this.stopped) return;
    this._lost(event.code, event.reason);
  }

  /** Gives up on the current socket at once (its close handshake may never complete). */
  _drop(reason) {
    const ws = this.ws;
    if (!ws) return;
    this._closed(ws, { code: 4000, reason });
    ws.close(4000, reason);
  }

  _sendPing() {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    this.ws.send(JSON.stringify({ type: "ping", t: localNow() }));
  }

  _startPings() {
    this._stopPings();
    this._ping = setInterval(() => {
      if (this._pongDeadline && localNow() > this._pongDeadline) {
        this._drop("no pong"); // a half-open connection: reconnect without waiting for TCP to notice
        return;
      }
      this._pongDeadline = localNow() + PONG_TIMEOUT_MS;
      this._sendPing();
    }, PING_EVERY_MS);
  }

  _stopPings() {
    clearInterval(this._ping);
    this._pongDeadline = 0;
  }
}

/**
 * Server-Sent Events: GET /api/v1/events, read with fetch rather than EventSource, which can send
 * neither the bearer header (only a single-use ticket, useless to its own reconnects) nor a
 * Last-Event-ID of the app's choosing, and hides the keep-alive comments a dead connection is told by.
 * Every connect names, as Last-Event-ID, the last seq of each group (the stream's own `id:` cursor,
 * raised to what the app holds), so each group resumes exactly once after it.
 *
 * What the app sends goes over HTTP, one request at a time in the order sent (messages are stored
 * in that order, as a socket's are): `message` (its `ack` and `error` frames made from the answer),
 * `typing` and `video_control`. `seen` and `resume` are not taken (send answers false): read
 * positions have their own HTTP fallback in the app, and a stream follows every group of the user.
 */
export class StreamRealtime extends Realtime {
  transport = "sse";

  constructor(api, resumePoints) {
    super(api, resumePoints);
    this.stream = null; // the AbortController of the current stream
    this.cursor = {}; // group -> seq, from the stream's `id:` lines
    this._heard = 0;
    this._watch = 0;
    this._clock = 0;
    this._actions = [];
    this._acting = false;
    this._inFlight = new AbortController(); // the actions' requests, given up with the connection
  }

  _close() {
    this._stopTimers();
    this._abandonActions();
    const stream = this.stream;
    this.stream = null;
    stream?.abort();
  }

  get open() {
    return this.stream !== null && this.status === "online";
  }

  send(frame) {
    if (!this.open || !ACTIONS.has(frame.type)) return false;
    this._actions.push(frame);
    if (!this._acting) this._act();
    return true;
  }

  follow() {
    // A stream follows every group of the user, joined later ones too.
  }

  async connect() {
    if (this.stopped) return;
    clearTimeout(this._timer);
    this._setStatus("connecting");
    const stream = new AbortController();
    this.stream = stream;
    let response;
    try {
      const headers = { Accept: "text/event-stream", Authorization: `Bearer ${await this.api.session.accessToken()}` };
      const cursor = this._resumeCursor();
      if (cursor) headers["Last-Event-ID"] = cursor;
      response = await fetch("/api/v1/events", { headers, cache: "no-store", credentials: "omit", signal: stream.signal });
    } catch (error) {
      if (stream !== this.stream) return; // stopped or dropped meanwhile
      this.stream = null;
      if (error instanceof ApiError && error.status === 401) return this._ended();
      return this._retry("network");
    }
    if (stream !== this.stream) return;
    if (!response.ok) {
      this.stream = null;
      response.body?.cancel().catch(() => {});
      // 401: the session may have ended; 429: too many connections open; 503: the server is busy.
      return this._lost(response.status === 401 ? CloseCode.UNAUTHORIZED : CloseCode.TRY_AGAIN_LATER, `HTTP ${response.status}`);
    }
    this._read(stream, response.body);
  }

  /** Last-Event-ID: per group, the furthest of the stream's cursor and what the app holds. */
  _resumeCursor() {
    const points = { ...this.cursor };
    for (const [group, seq] of Object.entries(this.resumePoints())) {
      if (Number.isInteger(seq) && !(points[group] >= seq)) points[group] = seq;
    }
    return Object.entries(points)
      .map(([group, seq]) => `${group}:${seq}`)
      .join(",");
  }

  async _read(stream, body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new EventParser();
    let end = { code: 1006, reason: "the stream ended" };
    this._heard = localNow();
    clearInterval(this._watch);
    this._watch = setInterval(() => {
      if (localNow() - this._heard > STREAM_SILENCE_MS) this._drop("silent"); // half-open: no keep-alive came
    }, STREAM_SILENCE_MS / 4);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || stream !== this.stream) break;
        this._heard = localNow();
        for (const event of parser.push(value)) {
          if (stream !== this.stream) break;
          if (event.id !== undefined) this._setCursor(event.id);
          if (!event.data) continue;
          let frame;
          try {
            frame = JSON.parse(event.data);
          } catch {
            continue;
          }
          if (event.name === "close") {
            end = { code: frame.code, reason: frame.reason };
            stream.abort(); // the server ends the stream next: no need to wait for it
            break;
          }
          if (frame.type === "ready") this._streamReady(frame);
          this._frame(frame);
        }
      }
    } catch {
      // the connection broke (a server killed, the network gone) or was aborted
    }
    if (stream !== this.stream) return;
    this.stream = null;
    this._stopTimers();
    if (!this.stopped) this._lost(end.code, end.reason);
  }

  _streamReady(frame) {
    this._ready(frame);
    for (const delay of CLOCK_BURST_MS) setTimeout(() => this._sampleClock(), delay);
    clearInterval(this._clock);
    this._clock = setInterval(() => this._sampleClock(), PING_EVERY_MS);
  }

  _setCursor(text) {
    const cursor = {};
    for (const pair of text.split(",")) {
      const [group, seq] = pair.split(":").map(Number);
      if (Number.isInteger(group) && Number.isInteger(seq)) cursor[group] = seq;
    }
    this.cursor = cursor;
  }

  /** Clock sync over HTTP (GET /api/v1/time), computed as from ping/pong. */
  async _sampleClock() {
    if (!this.open) return;
    const t0 = localNow();
    try {
      const { server_time: serverTime } = await this.api.request("GET", "/api/v1/time", { auth: false });
      this.clock.add(t0, serverTime);
      this.dispatchEvent(new CustomEvent("clock"));
    } catch {
      // the next sample will do
    }
  }

  /** Gives up on the current stream at once. */
  _drop(reason) {
    const stream = this.stream;
    if (!stream) return;
    this.stream = null;
    this._stopTimers();
    this._abandonActions();
    stream.abort();
    if (!this.stopped) this._lost(4000, reason);
  }

  /** The connection is given up: so are the actions on their way, like frames in a dead socket's
   * buffer (a request to a frozen server would otherwise hold up every action after it). The app
   * sends its waiting messages again once connected. */
  _abandonActions() {
    this._actions = [];
    this._inFlight.abort();
    this._inFlight = new AbortController();
  }

  _stopTimers() {
    clearInterval(this._watch);
    clearInterval(this._clock);
  }

  async _act() {
    this._acting = true;
    while (this._actions.length) {
      const frame = this._actions.shift();
      try {
        await this._perform(frame);
      } catch (error) {
        this._refused(frame, error);
      }
    }
    this._acting = false;
  }

  async _perform(frame) {
    const group = frame.group_id;
    const call = (method, path, body) => this.api.request(method, `/api/v1/groups/${group}/${path}`, { body, signal: this._inFlight.signal });
    const post = (path, body) => call("POST", path, body);
    if (frame.type === "message") {
      const body = { client_msg_id: frame.client_msg_id, reply_to: frame.reply_to || null };
      if (frame.text !== undefined) body.text = frame.text;
      if (frame.attachment_ids?.length) body.attachment_ids = frame.attachment_ids;
      const message = await post("messages", body);
      this._frame({ type: "ack", client_msg_id: frame.client_msg_id, id: message.id, seq: message.seq, group_id: group });
    } else if (frame.type === "typing") {
      await call(frame.active === false ? "DELETE" : "POST", "typing"); // stopped typing: DELETE
    } else if (frame.type === "video_control") {
      const { video_action, video_time, video_name, rate } = frame;
      await post("playback", { video_action, video_time, video_name, rate });
    }
  }

  /** An action the server refused, as the socket's `error` frame; a network failure ends the stream
   * too (the app sends its pending messages again once it is back). */
  _refused(frame, error) {
    if (error instanceof NetworkError) {
      this._drop("network");
      return;
    }
    if (frame.type === "typing" || error?.name === "AbortError") return;
    const code = { 404: "not_found", 409: "conflict", 429: "rate_limited", 503: "unavailable" }[error?.status] || "bad_request";
    this._frame({ type: "error", code, detail: describeError(error), client_msg_id: frame.client_msg_id });
  }
}

const ACTIONS = new Set(["message", "typing", "video_control"]);

/** The text/event-stream format, fed text as it arrives: `push` returns the events completed, each
 * `{name, data, id}` (`id` only when the event set one; a block of only `id:` is an event without data). */
export class EventParser {
  buffer = "";
  name = "";
  data = [];
  id = undefined;

  push(text) {
    this.buffer += text;
    const events = [];
    let newline;
    while ((newline = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, newline);
      const crlf = this.buffer.startsWith("\r\n", newline);
      if (this.buffer[newline] === "\r" && !crlf && newline === this.buffer.length - 1) break; // maybe \r\n split
      this.buffer = this.buffer.slice(newline + (crlf ? 2 : 1));
      if (line === "") {
        if (this.data.length || this.id !== undefined) events.push({ name: this.name || "message", data: this.data.join("\n"), id: this.id });
        this.name = "";
        this.data = [];
        this.id = undefined;
        continue;
      }
      if (line.startsWith(":")) continue; // a comment: the keep-alive
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") this.name = value;
      else if (field === "data") this.data.push(value);
      else if (field === "id") this.id = value;
    }
    return events;
  }
}
