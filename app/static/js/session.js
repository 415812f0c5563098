// Tokens, kept carefully.
//
// - The access token (15 min) lives only in memory: never in storage, never in a URL (the WebSocket
//   gets a single-use ticket instead). It is refreshed before it expires (at 80 % of expires_in, and
//   on demand when a request finds it within 30 s of expiry), so requests rarely see a 401.
// - The refresh token lives in sessionStorage, which survives a reload of the tab but not closing it,
//   and is not shared between tabs. Sharing (localStorage) would break under rotation: the server
//   accepts only the newest refresh token of a session and treats an older one as stolen, so two tabs
//   refreshing with one shared token would get the whole session revoked. A duplicated tab (which
//   copies sessionStorage) is detected over a BroadcastChannel and asked to sign in on its own.
// - Rotation: every refresh returns a new refresh token, stored at once, replacing the old one.
// - Refreshes are single-flight: concurrent 401s share one refresh call.

import { ApiError, NetworkError, publicPost } from "./api.js";
import { randomId } from "./dom.js";

const REFRESH_KEY = "huddle.refresh";
const TAB_KEY = "huddle.tab";
const EARLY_MS = 30_000;

export class Session extends EventTarget {
  #access = null;
  #expiresAt = 0;
  #refreshing = null;
  #timer = 0;
  #channel = null;
  user = null;

  constructor() {
    super();
    if ("BroadcastChannel" in window) {
      this.#channel = new BroadcastChannel("huddle.session");
      this.#channel.addEventListener("message", (event) => {
        if (event.data?.type === "who-has" && event.data.tab === sessionStorage.getItem(TAB_KEY) && this.#access) {
          this.#channel.postMessage({ type: "taken", tab: event.data.tab });
        }
      });
    }
  }

  get signedIn() {
    return this.#access !== null;
  }

  /** A stored session from before a reload, unless another open tab (a duplicate of this one) uses it. */
  async restore() {
    const stored = sessionStorage.getItem(REFRESH_KEY);
    if (!stored) return false;
    if (await this.#tabIsDuplicate()) {
      this.#forget();
      return false;
    }
    try {
      await this.refresh();
      return true;
    } catch (error) {
      if (error instanceof NetworkError) throw error;
      return false;
    }
  }

  async #tabIsDuplicate() {
    const tab = sessionStorage.getItem(TAB_KEY);
    if (!tab || !this.#channel) return false;
    return new Promise((resolve) => {
      const listener = (event) => {
        if (event.data?.type === "taken" && event.data.tab === tab) done(true);
      };
      const done = (value) => {
        this.#channel.removeEventListener("message", listener);
        resolve(value);
      };
      this.#channel.addEventListener("message", listener);
      this.#channel.postMessage({ type: "who-has", tab });
      setTimeout(() => done(false), 150);
    });
  }

  async signIn(email, password) {
    this.adopt(await publicPost("/api/v1/auth/login", { email, password }));
  }

  /** After "Sign in with <provider>": the callback's one-time code (from the URL fragment) for tokens. */
  async signInWithCode(code) {
    this.adopt(await publicPost("/api/v1/auth/oidc/exchange", { code }));
  }

  async register(email, name, password) {
    this.adopt(await publicPost("/api/v1/auth/register", { email, name, password }));
  }

  adopt(tokens) {
    this.#access = tokens.access_token;
    this.#expiresAt = Date.now() + tokens.expires_in * 1000;
    sessionStorage.setItem(REFRESH_KEY, tokens.refresh_token); // rotation: always the newest one
    if (!sessionStorage.getItem(TAB_KEY)) sessionStorage.setItem(TAB_KEY, randomId());
    this.user = tokens.user;
    this.#schedule(tokens.expires_in * 1000 * 0.8);
    this.dispatchEvent(new Event("changed"));
  }

  #schedule(delay) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.refresh().catch(() => {
        /* a network failure retries below; an ended session has already signed out */
      });
    }, Math.max(1_000, delay));
  }

  /** A valid access token, refreshed first when it is about to expire. */
  async accessToken() {
    if (this.#access === null) throw new ApiError(401, "unauthorized", "You are signed out.");
    if (Date.now() > this.#expiresAt - EARLY_MS) await this.refresh();
    return this.#access;
  }

  refresh() {
    if (!this.#refreshing) {
      this.#refreshing = this.#doRefresh().finally(() => {
        this.#refreshing = null;
      });
    }
    return this.#refreshing;
  }

  async #doRefresh() {
    const token = sessionStorage.getItem(REFRESH_KEY);
    if (!token) {
      this.end("Your session has ended. Please sign in again.");
      throw new ApiError(401, "unauthorized", "Signed out");
    }
    try {
      this.adopt(await publicPost("/api/v1/auth/refresh", { refresh_token: token }));
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 400)) {
        this.end("Your session has ended. Please sign in again.");
      } else {
        this.#schedule(10_000); // offline or restarting: try again soon, keep the token
      }
      throw error;
    }
  }

  async signOut() {
    const access = this.#access;
    if (access) {
      try {
        await fetch("/api/v1/auth/logout", {
          method: "POST",
          headers: { Authorization: `Bearer ${access}` },
          credentials: "omit",
        });
      } catch {
        // the local session ends anyway; the server one expires with its refresh token
      }
    }
    this.end(null);
  }

  #forget() {
    sessionStorage.removeItem(REFRESH_KEY);
    sessionStorage.removeItem(TAB_KEY);
  }

  /** Ends the local session: tokens dropped, listeners told why (null: the user signed out). */
  end(reason) {
    const wasSignedIn = this.#access !== null || sessionStorage.getItem(REFRESH_KEY) !== null;
    clearTimeout(this.#timer);
    this.#access = null;
    this.#expiresAt = 0;
    this.user = null;
    this.#forget();
    if (wasSignedIn) this.dispatchEvent(new CustomEvent("ended", { detail: { reason } }));
  }
}
