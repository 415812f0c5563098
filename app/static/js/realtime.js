// The one user-level WebSocket (/ws): ticket authentication, resume by seq, keep-alive pings that
// double as clock-sync samples, and reconnection with exponential backoff and full jitter.

import { ApiError, NetworkError } from "./api.js";

const PING_EVERY_MS = 20_000; // the server closes a socket silent for 90 s; the brief says <= 30 s
const PONG_TIMEOUT_MS = 10_000; // no pong by then: the connection is dead even if the OS has not noticed
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15_000;
const CLOCK_SAMPLES = 8;

export const CloseCode = {
  NORMAL: 1000,
  RESTART: 1012,
  SLOW_CONSUMER: 1013,
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

export class Realtime extends EventTarget {
  /**
   * @param {import("./api.js").Api} api
   * @param {() => Record<string, number|null>} resumePoints last seq per group, for the resume frame
   */
  constructor(api, resumePoints) {
    super();
    this.api = api;
    this.resumePoints = resumePoints;
    this.clock = new Clock();
    this.status = "idle"; // idle | connecting | online | waiting | offline | ended
    this.attempt = 0;
    this.retryAt = 0;
    this.ws = null;
    this.stopped = true;
    this._timer = 0;
    this._ping = 0;
    this._pongDeadline = 0;
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
    this._stopPings();
    const ws = this.ws;
    this.ws = null;
    ws?.close(CloseCode.NORMAL, "bye");
    this._setStatus("idle");
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

  reconnectNow() {
    if (this.stopped || this.status === "online" || this.status === "connecting") return;
    clearTimeout(this._timer);
    this.connect();
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
      this.attempt = 0;
      this.userId = frame.user_id;
      this._setStatus("online");
      ws.send(JSON.stringify({ type: "resume", groups: this.resumePoints() }));
      this._startPings();
      // A burst of clock samples at start; the keep-alive pings add one every 20 s after that.
      for (const delay of [0, 300, 700, 1200]) setTimeout(() => this._sendPing(), delay);
    } else if (frame.type === "pong") {
      this._pongDeadline = 0;
      this.clock.add(frame.t, frame.server_time);
      this.dispatchEvent(new CustomEvent("clock"));
      return;
    }
    this.dispatchEvent(new CustomEvent("frame", { detail: frame }));
  }

  _closed(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this._stopPings();
    if (this.stopped) return;
    this.dispatchEvent(new CustomEvent("disconnected", { detail: { code: event.code, reason: event.reason } }));
    if (event.code === CloseCode.UNAUTHORIZED) {
      // The session ended (logout elsewhere, password change) or the token aged: one refresh decides.
      this.api.session.refresh().then(
        () => this._retry("unauthorized"),
        (error) => (error instanceof NetworkError ? this._retry("network") : this._ended()),
      );
      return;
    }
    this._retry(event.code === CloseCode.RESTART ? "restart" : "closed");
  }

  /** Gives up on the current socket at once (its close handshake may never complete). */
  _drop(reason) {
    const ws = this.ws;
    if (!ws) return;
    this._closed(ws, { code: 4000, reason });
    ws.close(4000, reason);
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

  _setStatus(status) {
    this.status = status;
    this.dispatchEvent(new CustomEvent("status", { detail: { status } }));
  }
}
