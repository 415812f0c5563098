// Huddle's browser app: routing, the signed-in shell, and the glue between the socket, the store
// and the views. Plain ES modules, no build step; see README "Using the web app".

import { Api, NetworkError, describeError } from "./api.js";
import { loadBlocks, settingsView } from "./blocks.js";
import { announce, h, randomId, replaceChildren, toast } from "./dom.js";
import { Media } from "./media.js";
import { chosenTransport, createRealtime } from "./realtime.js";
import { SEQUENCED, Store } from "./state.js";
import { Session } from "./session.js";
import { SSO_KEY, SSO_PENDING_KEY, authView } from "./views/auth.js";
import { identitiesSection } from "./views/identities.js";
import { ChatView } from "./views/chat.js";
import { noteLiveMention } from "./mentions.js";
import { Notifier, notificationSettingsSection } from "./notifications.js";
import { mentionsView } from "./views/mentions.js";
import { Sidebar } from "./views/sidebar.js";

const STATUS_TEXT = {
  idle: "Not connected",
  connecting: "Connecting…",
  online: "Connected",
  waiting: "Reconnecting…",
  offline: "Offline: waiting for the network",
  ended: "Disconnected",
};

// Why a sign-in with an identity provider was refused (the callback's `reason`), in words.
const PROVIDER_FAILURES = {
  denied: "The sign-in was cancelled at your identity provider.",
  expired: "The sign-in took too long. Try again.",
  no_flow: "The sign-in expired or was started in another browser. Try again.",
  bad_state: "The sign-in could not be verified. Try again.",
  replayed: "That sign-in was already used. Try again.",
  unverified_email: "Your identity provider has not confirmed your email address. Verify it there, then try again.",
  link_required: "An account with your email already exists. Sign in with its password, then link the provider from your profile.",
  identity_taken: "That identity is already linked to another Huddle account.",
  inactive: "This account is deactivated.",
};

function providerFailure(reason) {
  return PROVIDER_FAILURES[reason] || "Signing in with your identity provider failed. Try again.";
}


const mediaEvent = (app, frame) => app.media.event(frame);

/** What each non-sequenced frame type does: (app, frame, store, groupId). Unknown types are ignored. */
const FRAME_HANDLERS = {
  ack: (app, frame) => app.acked(frame),
  error: (app, frame) => app.socketError(frame),
  subscribed: (app, frame, store, groupId) => {
    store.setOnline(groupId, frame.online);
    if (store.groups.has(groupId) && frame.latest_seq > (store.groups.get(groupId).latestSeq || 0)) {
      store.groups.get(groupId).latestSeq = frame.latest_seq;
      store.emit("unread", { groupId });
    }
  },
  reset: (app, frame, store, groupId) => {
    store.resetChat(groupId, frame.latest_seq);
    if (store.openGroupId === groupId) app.reloadLatest(groupId);
    app.refreshGroups();
  },
  presence: (app, frame, store) => store.presence(frame),
  typing: (app, frame, store) => store.typing(frame),
  seen: (app, frame, store) => store.seen(frame),
  message_edited: (app, frame, store, groupId) =>
    store.updateMessage(groupId, frame.seq, { text: frame.text, edited_at: frame.edited_at, mentions: frame.mentions || [], editPending: false }),
  message_deleted: (app, frame, store, groupId) => store.deleteMessage(groupId, frame.seq),
  reaction: (app, frame, store) => store.applyReaction(frame),
  playback_state: (app, frame, store) => store.setPlayback(frame),
  watching: (app, frame, store, groupId) => store.setWatching(groupId, frame.user_ids),
  video_added: mediaEvent,
  video_updated: mediaEvent,
  video_deleted: mediaEvent,
  video_processing: mediaEvent,
  group_updated: (app, frame, store, groupId) => {
    const group = store.groups.get(groupId);
    if (group) store.upsertGroup({ ...group, name: frame.name, description: frame.description });
  },
  group_deleted: (app, frame, store, groupId) => {
    const group = store.groups.get(groupId);
    store.removeGroup(groupId, group ? `${store.displayName(group)} was deleted.` : null);
  },
  member_role: (app, frame, store, groupId) => {
    if (frame.user_id === store.me?.id) {
      const group = store.groups.get(groupId);
      if (group) store.upsertGroup({ ...group, role: frame.role });
      if (group) announce(`You are now ${frame.role === "admin" ? "an admin" : "a member"} of ${group.name}`);
    }
    if (store.chats.get(groupId)?.members) app.reloadMembers(groupId);
  },
};

class App {
  constructor(root) {
    this.root = root;
    this.session = new Session();
    this.api = new Api(this.session);
    this.store = new Store();
    this.media = new Media(this.api, this.store);
    this.transport = chosenTransport(); // read before routing drops the URL's ?transport=
    this.realtime = null;
    this.shell = null;
    this.chatView = null;
    this.groupsLoaded = null;
    this.followed = new Set();
    this.wasOnline = false;
    this.unsentReads = new Map(); // groupId -> seq the server may not have
    this.pendingEdits = new Map(); // "groupId:seq" -> {groupId, seq, text}, waiting for the connection
    this.memberReads = new Map(); // groupId -> the newest members read asked (reloadMembers)
    this.httpSends = Promise.resolve(); // messages sent over HTTP while the connection is down, in order
    this.afterSignIn = null;
    this.providerLogout = null; // {name, url}: offered on the sign-in page after signing out

    this.session.addEventListener("ended", (event) => this.sessionEnded(event.detail.reason));
    window.addEventListener("popstate", () => this.route());
    document.addEventListener("click", (event) => {
      const link = event.target.closest?.("a[data-nav]");
      if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
      event.preventDefault();
      this.navigate(link.getAttribute("href"));
    });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && this.realtime) {
        this.realtime.reconnectNow();
        this.refreshGroups();
      }
    });
  }

  async boot() {
    try {
      await this.finishProviderSignIn();
      if (!this.session.signedIn) await this.session.restore();
    } catch (error) {
      if (error instanceof NetworkError) {
        this.showUnreachable();
        return;
      }
    }
    this.root.removeAttribute("aria-busy");
    this.route();
  }

  /** Back from an identity provider: the fragment carries a one-time code (`#oidc=`), a refusal's
   * reason (`#oidc_error=`) or a linked provider (`#oidc_linked=`). It is read once and removed from
   * the address bar and history; the fragment never reaches a server. */
  async finishProviderSignIn() {
    const params = new URLSearchParams(location.hash.slice(1));
    const code = params.get("oidc");
    const failed = params.get("oidc_error");
    const linked = params.get("oidc_linked");
    if (code === null && failed === null && linked === null) return;
    history.replaceState({}, "", location.pathname + location.search);
    if (failed !== null) this.notice = providerFailure(failed);
    if (linked !== null) toast("The identity provider is now linked to your account: you can sign in with it.", "info");
    const pending = sessionStorage.getItem(SSO_PENDING_KEY);
    sessionStorage.removeItem(SSO_PENDING_KEY);
    if (code === null) return;
    try {
      await this.session.signInWithCode(code);
      if (pending) sessionStorage.setItem(SSO_KEY, pending);
    } catch (error) {
      if (error instanceof NetworkError) throw error;
      this.notice = `Signing in did not complete: ${describeError(error)} Try again.`;
    }
  }

  showUnreachable() {
    const retry = h("button", { type: "button", class: "primary", text: "Try again", on: { click: () => this.boot() } });
    replaceChildren(
      this.root,
      h("main", { id: "main", class: "auth-page", tabIndex: -1 }, h("div", { class: "card" }, h("h1", { text: "Huddle is unreachable" }), h("p", { text: "Cannot reach the server. Check your connection, then try again." }), retry)),
    );
    retry.focus();
  }

  navigate(path, { replace = false } = {}) {
    if (path !== location.pathname) history[replace ? "replaceState" : "pushState"]({}, "", path);
    this.route();
  }

  route() {
    const path = location.pathname;
    if (!this.session.signedIn) {
      if (path !== "/signin" && path !== "/signup") {
        if (path !== "/") this.afterSignIn = path;
        history.replaceState({}, "", "/signin");
      }
      this.showAuth(location.pathname === "/signup" ? "signup" : "signin");
      return;
    }
    if (path === "/signin" || path === "/signup") {
      history.replaceState({}, "", "/");
    }
    this.startShell();
    const match = location.pathname.match(/^\/g\/(\d+)$/);
    if (match) this.openGroup(Number(match[1]), Number(new URLSearchParams(location.search).get("seq")) || null);
    else if (location.pathname === "/settings") this.showSettings();
    else if (location.pathname === "/mentions") this.showMentions();
    else this.showHome();
  }

  showAuth(mode, notice = this.notice) {
    this.notice = null;
    const view = authView(this, mode, notice);
    replaceChildren(this.root, view);
    document.title = mode === "signup" ? "Create account · Huddle" : "Sign in · Huddle";
    view.focusTarget()?.focus();
  }

  signedIn() {
    const target = this.afterSignIn || "/";
    this.afterSignIn = null;
    this.navigate(target, { replace: true });
  }

  sessionEnded(reason) {
    this.stopShell();
    this.notice = reason; // shown on the sign-in form
    this.navigate("/signin", { replace: true });
  }

  // -- the signed-in shell -------------------------------------------------------------------------

  startShell() {
    if (this.shell) return;
    this.providerLogout = null;
    this.store.reset();
    this.store.me = this.session.user;
    this.sidebar = new Sidebar(this);
    this.statusText = h("span", { class: "conn-text", text: STATUS_TEXT.connecting });
    this.retryText = h("span", { class: "conn-retry", aria: { hidden: "true" } });
    this.retryButton = h("button", { type: "button", class: "link", hidden: true, text: "Retry now", on: { click: () => this.realtime.reconnectNow() } });
    this.statusPill = h("p", { class: "conn", role: "status", data: { status: "connecting" } }, h("span", { class: "dot", aria: { hidden: "true" } }), this.statusText, this.retryText);
    this.main = h("main", { id: "main", tabIndex: -1 });
    const me = this.session.user;
    this.shell = h(
      "div",
      { class: "shell" },
      h(
        "header",
        { class: "topbar" },
        h("a", { href: "/", class: "brand", data: { nav: "" }, text: "Huddle" }),
        this.statusPill,
        this.retryButton,
        h("span", { class: "me", text: me.display_name || me.name, title: me.email }),
        h("a", { href: "/mentions", class: "mentions-link", data: { nav: "" }, text: "Mentions" }),
        h("a", { href: "/settings", class: "settings-link", data: { nav: "" }, text: "Settings" }),
        h("button", { type: "button", class: "secondary", id: "sign-out", text: "Sign out", on: { click: () => this.signOut() } }),
      ),
      h("div", { class: "layout" }, this.sidebar.el, this.main),
    );
    replaceChildren(this.root, this.shell);
    this.onStoreChange = (event) => this.storeChanged(event.detail);
    this.store.addEventListener("change", this.onStoreChange);

    // The WebSocket or Server-Sent Events (REALTIME_TRANSPORT, or the tab's ?transport=): the same
    // frames and statuses either way; see realtime.js.
    this.realtime = createRealtime(this.transport, this.api, () => this.resumePoints());
    this.statusPill.dataset.transport = this.realtime.transport;
    this.realtime.addEventListener("frame", (event) => this.frame(event.detail));
    this.realtime.addEventListener("status", (event) => this.connectionStatus(event.detail.status));
    this.statusTimer = setInterval(() => this.renderRetry(), 1000);
    this.groupsLoaded = this.refreshGroups().then(() => this.realtime.start());
    this.notifier = new Notifier(this);
    this.notifier.start(); // settings, and push when permission was given before (never asks here)
    loadBlocks(this).catch(() => {}); // the Block buttons say "Unblock" for those blocked; retried on /settings
  }

  stopShell() {
    if (!this.shell) return;
    this.chatView?.unmount();
    this.chatView = null;
    this.realtime?.stop();
    this.realtime = null;
    this.notifier = null;
    clearInterval(this.statusTimer);
    this.store.removeEventListener("change", this.onStoreChange);
    this.store.reset();
    this.shell = null;
    this.followed.clear();
    this.wasOnline = false;
    this.unsentReads = new Map(); // groupId -> seq the server may not have
    this.pendingEdits = new Map(); // "groupId:seq" -> {groupId, seq, text}, waiting for the connection
    this.memberReads = new Map(); // groupId -> the newest members read asked (reloadMembers)
  }

  async signOut() {
    let sso = null;
    try {
      sso = JSON.parse(sessionStorage.getItem(SSO_KEY) || "null");
    } catch {
      sso = null;
    }
    sessionStorage.removeItem(SSO_KEY);
    // Huddle's logout ends Huddle's session; the provider's own session goes on. Where it offers
    // RP-initiated logout (end_session_endpoint), the sign-in page links to it.
    this.providerLogout = null;
    if (sso) {
      try {
        const found = await this.api.get(`/api/v1/auth/oidc/${encodeURIComponent(sso.key)}/logout`);
        if (found.end_session_url) this.providerLogout = { name: sso.name, url: found.end_session_url };
      } catch {
        // no link then: signing out of Huddle matters, the provider's page is a courtesy
      }
    }
    await this.session.signOut();
  }

  storeChanged(detail) {
    switch (detail.kind) {
      case "groups":
      case "unread":
      case "message":
      case "message-changed":
      case "history":
        this.sidebar.render();
        if (detail.kind === "groups") this.followNewGroups();
        break;
      case "group-removed":
        if (detail.reason) toast(detail.reason, "info");
        if (this.store.openGroupId === detail.groupId) this.navigate("/", { replace: true });
        break;
      default:
    }
  }

  async refreshGroups() {
    try {
      this.store.setGroups(await this.api.get("/api/v1/groups"));
    } catch (error) {
      toast(`Could not load your chats: ${describeError(error)}`);
    }
  }

  /** A group this client just created or opened: show it and follow it on the socket. */
  groupAdded(group) {
    this.store.upsertGroup(group);
  }

  resumePoints() {
    const points = this.store.resumePoints();
    this.followed = new Set(Object.keys(points).map(Number));
    return points;
  }

  followNewGroups() {
    if (!this.realtime?.open) return;
    const points = {};
    for (const [id, point] of Object.entries(this.store.resumePoints())) {
      if (!this.followed.has(Number(id))) {
        points[id] = point;
        this.followed.add(Number(id));
      }
    }
    this.realtime.follow(points);
  }

  showHome() {
    this.closeChat();
    this.shell.classList.remove("chat-open");
    document.title = "Huddle";
    const heading = h("h1", { tabIndex: -1, text: `Welcome, ${this.session.user.display_name || this.session.user.name}` });
    replaceChildren(
      this.main,
      h(
        "section",
        { class: "welcome" },
        heading,
        h("p", { text: "Pick a chat on the left, create a group, or start a direct chat with someone." }),
        h("p", { class: "muted", text: "In a group, “Watch together” plays a video in sync for everyone in it." }),
        identitiesSection(this),
      ),
    );
    this.sidebar.render();
    // After signing in (or leaving a chat that closed) focus would be nowhere: start at the heading.
    const active = document.activeElement;
    if (!active || active === document.body || !active.isConnected) heading.focus();
  }

  showSettings() {
    this.closeChat();
    this.shell.classList.remove("chat-open");
    document.title = "Settings · Huddle";
    const view = settingsView(this);
    view.el.lastElementChild.before(notificationSettingsSection(this));
    this.settingsView = view;
    replaceChildren(this.main, view.el);
    this.sidebar.render();
    view.heading.focus();
  }

  showMentions() {
    this.closeChat();
    this.shell.classList.remove("chat-open");
    document.title = "Mentions · Huddle";
    const view = mentionsView(this);
    replaceChildren(this.main, view.el);
    this.sidebar.render();
    view.heading.focus();
  }

  closeChat() {
    this.settingsView?.destroy();
    this.settingsView = null;
    this.chatView?.unmount();
    this.chatView = null;
    this.store.openGroupId = null;
  }

  async openGroup(groupId, seq = null) {
    if (this.chatView?.groupId === groupId) {
      if (seq) await this.revealMessage(this.chatView, seq);
      return;
    }
    this.closeChat();
    await this.groupsLoaded;
    if (!this.shell) return;
    if (!this.store.groups.has(groupId)) {
      await this.refreshGroups();
      if (!this.store.groups.has(groupId)) {
        replaceChildren(this.main, h("section", { class: "welcome" }, h("h1", { tabIndex: -1, text: "Chat not found" }), h("p", { text: "It may have been deleted, or you are no longer a member." }), h("a", { href: "/", data: { nav: "" }, text: "Back to your chats" })));
        this.main.querySelector("h1").focus();
        return;
      }
    }
    this.store.openGroupId = groupId;
    this.shell.classList.add("chat-open");
    const view = new ChatView(this, groupId);
    this.chatView = view;
    replaceChildren(this.main, view.el);
    document.title = `${this.store.displayName(this.store.groups.get(groupId))} · Huddle`;
    this.sidebar.render();
    view.focus();
    await view.mount();
    if (seq && this.chatView === view) await this.revealMessage(view, seq); // from Mentions or a notification
  }

  /** Shows one message, loading older pages until it is there (a mention may be days back). */
  async revealMessage(view, seq) {
    for (let pages = 0; pages < 20 && !view.items.has(seq) && view.chat.hasMore && this.chatView === view; pages += 1) {
      const oldest = view.chat.oldestSeq;
      if (oldest !== null && oldest <= seq) break;
      await view.loadOlder();
      if (view.chat.oldestSeq === oldest) await new Promise((resolve) => setTimeout(resolve, 100)); // another load was running
    }
    if (this.chatView === view) view.reveal(seq);
  }

  // -- connection status ---------------------------------------------------------------------------

  connectionStatus(status) {
    this.statusPill.dataset.status = status;
    this.statusText.textContent = STATUS_TEXT[status] || status;
    this.retryButton.hidden = status !== "waiting" && status !== "offline";
    this.renderRetry();
    if (this.store.openGroupId) this.store.emit("presence", { groupId: this.store.openGroupId });
    if (status === "online") {
      if (this.wasOnline) this.resync();
      this.wasOnline = true;
      this.retransmit();
      this.retransmitEdits();
    }
    if (status === "ended" && this.session.signedIn) this.session.end("Your session has ended. Please sign in again.");
  }

  renderRetry() {
    if (!this.realtime || this.realtime.status !== "waiting") {
      this.retryText.textContent = "";
      return;
    }
    const seconds = Math.max(0, Math.ceil((this.realtime.retryAt - Date.now()) / 1000));
    this.retryText.textContent = seconds ? ` in ${seconds} s` : "";
  }

  /** After a reconnect: what the seq stream does not carry (edits, reactions, renames) is re-read. */
  async resync() {
    await this.refreshGroups();
    const groupId = this.store.openGroupId;
    if (groupId && this.chatView) {
      try {
        const page = await this.api.get(`/api/v1/groups/${groupId}/messages`, { limit: 50 });
        this.store.addHistory(groupId, page, { older: false });
      } catch {
        // the next reconnect or reload tries again
      }
      this.chatView?.members.load();
      this.chatView?.markSeen();
    }
    this.resendReads();
  }

  // -- frames from the socket ----------------------------------------------------------------------

  frame(frame) {
    const store = this.store;
    const groupId = frame.group_id;
    if (SEQUENCED.has(frame.type)) {
      if (frame.type === "leave" && frame.user_id === store.me?.id) {
        // Let go of the group first: showing the frame would mark it read, and the server would
        // answer that "seen" from a non-member with a "Group not found" error.
        this.sequenced(frame);
        return;
      }
      if (!store.groups.has(groupId)) this.scheduleGroupsRefresh();
      noteLiveMention(store, frame);
      const result = store.addLive(frame);
      if (result === "gap") this.fillGap(groupId);
      if (result !== "duplicate") {
        this.sequenced(frame);
        this.notifier?.frame(frame);
      }
      return;
    }
    FRAME_HANDLERS[frame.type]?.(this, frame, store, groupId);
  }

  sequenced(frame) {
    const store = this.store;
    const groupId = frame.group_id;
    if (frame.type === "leave" && frame.user_id === store.me?.id) {
      const group = store.groups.get(groupId);
      let reason = null;
      if (group) {
        const name = store.displayName(group);
        // The socket's `leave` can arrive before the answer to this user's own leave request.
        reason = store.leaving.has(groupId) ? `You left ${name}.` : `You are no longer a member of ${name}.`;
      }
      store.removeGroup(groupId, reason);
      return;
    }
    if (frame.type === "add" || frame.type === "leave") {
      const known = store.chats.get(groupId)?.members;
      // Also while the open chat's first read of its members may be under way: it could predate this.
      if (known || store.openGroupId === groupId) this.reloadMembers(groupId);
      const group = store.groups.get(groupId);
      if (group && known) group.member_count = Math.max(1, (group.member_count || 1) + (frame.type === "add" ? 1 : -1));
    }
  }

  /** Reads a group's members again. A read started earlier never overwrites a later one's answer (a
   * member added while the chat's first read was under way would vanish). Failures are shown stale
   * until the next change, unless `quiet` is false. */
  async reloadMembers(groupId, { quiet = true } = {}) {
    const ticket = (this.memberReads.get(groupId) || 0) + 1;
    this.memberReads.set(groupId, ticket);
    try {
      const members = await this.api.get(`/api/v1/groups/${groupId}/members`);
      if (this.memberReads.get(groupId) === ticket) this.store.setMembers(groupId, members);
    } catch (error) {
      if (!quiet) throw error;
    }
  }

  async reloadLatest(groupId) {
    try {
      this.store.addHistory(groupId, await this.api.get(`/api/v1/groups/${groupId}/messages`, { limit: 50 }), { older: false });
    } catch (error) {
      toast(`Could not reload the conversation: ${describeError(error)}`);
    }
  }

  /** Defensive: the server sends every seq in order, but if one ever goes missing, fetch it. */
  async fillGap(groupId) {
    const chat = this.store.chats.get(groupId);
    if (!chat) return;
    const sorted = [...chat.messages.keys()].sort((a, b) => a - b);
    let after = sorted[0] ?? 0;
    for (const seq of sorted) {
      if (seq > after + 1) break;
      after = seq;
    }
    try {
      const page = await this.api.get(`/api/v1/groups/${groupId}/messages`, { after_seq: after, limit: 100 });
      for (const frame of page.items) this.store.addLive(frame, { fromStream: false });
    } catch {
      // resynced on the next reconnect
    }
  }

  scheduleGroupsRefresh() {
    clearTimeout(this.groupsTimer);
    this.groupsTimer = setTimeout(() => this.refreshGroups(), 200);
  }

  // -- sending -------------------------------------------------------------------------------------

  sendMessage(groupId, text, replyTo, attachmentIds = []) {
    const entry = { client_msg_id: randomId(), text, reply_to: replyTo, attachment_ids: attachmentIds, status: "sending" };
    this.store.addPending(groupId, entry);
    this.transmit(groupId, entry);
  }

  retrySend(groupId, clientMsgId) {
    const entry = this.store.chats.get(groupId)?.pending.get(clientMsgId);
    if (!entry) return;
    this.store.updatePending(groupId, clientMsgId, { status: "sending", error: null });
    this.transmit(groupId, entry);
  }

  /** Over the connection when it is up, else over HTTP; the client_msg_id makes retries harmless. */
  transmit(groupId, entry) {
    // Text may be left out when the message carries attachments.
    const content = entry.text.trim() ? { text: entry.text } : {};
    if (entry.attachment_ids?.length) content.attachment_ids = entry.attachment_ids;
    const frame = { type: "message", group_id: groupId, ...content, client_msg_id: entry.client_msg_id };
    if (entry.reply_to) frame.reply_to = entry.reply_to;
    if (this.realtime?.send(frame)) return;
    const body = { ...content, client_msg_id: entry.client_msg_id, reply_to: entry.reply_to || null };
    // One request at a time: requests in flight together may be stored in any order.
    this.httpSends = this.httpSends.then(() =>
      this.api.post(`/api/v1/groups/${groupId}/messages`, body).then(
        (message) => {
          this.store.addLive(message, { fromStream: false });
          this.store.removePending(groupId, entry.client_msg_id);
        },
        (error) => {
          if (error instanceof NetworkError || error?.status === 503) this.store.updatePending(groupId, entry.client_msg_id, { status: "queued" });
          else this.store.updatePending(groupId, entry.client_msg_id, { status: "failed", error: describeError(error) });
        },
      ),
    );
  }

  /** Back online: whatever was still on its way is sent again (the server drops repeats). */
  retransmit() {
    for (const [groupId, chat] of this.store.chats) {
      for (const entry of chat.pending.values()) {
        if (entry.status !== "failed") this.transmit(groupId, entry);
      }
    }
  }

  acked(frame) {
    const found = this.store.findPending(frame.client_msg_id);
    this.store.markRead(frame.group_id, frame.seq);
    if (!found) return;
    if (found.chat.messages.has(frame.seq)) this.store.removePending(frame.group_id, frame.client_msg_id);
    else this.store.updatePending(frame.group_id, frame.client_msg_id, { status: "sent", seq: frame.seq });
  }

  socketError(frame) {
    if (frame.client_msg_id) {
      const found = this.store.findPending(frame.client_msg_id);
      if (found) {
        this.store.updatePending(found.chat.groupId, frame.client_msg_id, { status: "failed", error: frame.detail });
        return;
      }
    }
    const now = Date.now();
    if (now - (this.lastSocketError || 0) < 5_000) return;
    this.lastSocketError = now;
    toast(frame.code === "rate_limited" ? "You are sending too fast; slow down a little." : frame.detail);
  }

  markSeen(groupId) {
    const group = this.store.groups.get(groupId);
    if (!group) return;
    const seq = group.latestSeq || 0;
    if (!this.store.markRead(groupId, seq)) return;
    this.sendRead(groupId, seq);
  }

  /** A read position for the server: over the socket, else over HTTP; one that may not have
   * arrived (the connection was down) is sent again after the next reconnect. */
  sendRead(groupId, seq) {
    if (this.realtime?.send({ type: "seen", group_id: groupId, seq })) return;
    this.unsentReads.set(groupId, seq);
    this.api.post(`/api/v1/groups/${groupId}/read`, { seq }).then(
      () => {
        if (this.unsentReads.get(groupId) === seq) this.unsentReads.delete(groupId);
      },
      () => {},
    );
  }

  /** Back online: read positions that may have been lost, and the open chat's (a frame sent as the
   * server went down is lost without a word), go out again. The server never moves one backwards. */
  resendReads() {
    const reads = new Map(this.unsentReads);
    this.unsentReads.clear();
    const open = this.store.groups.get(this.store.openGroupId);
    if (open?.lastReadSeq) reads.set(open.id, Math.max(reads.get(open.id) || 0, open.lastReadSeq));
    for (const [groupId, seq] of reads) if (this.store.groups.has(groupId)) this.sendRead(groupId, seq);
  }

  /** An edit: saved now, or, while the server cannot be reached, shown as waiting and saved after
   * the reconnect (like messages). Other refusals are thrown to the edit box. */
  async editMessage(groupId, seq, text) {
    try {
      const updated = await this.api.patch(`/api/v1/groups/${groupId}/messages/${seq}`, { text });
      this.pendingEdits.delete(`${groupId}:${seq}`);
      this.store.updateMessage(groupId, seq, { text: updated.text, edited_at: updated.edited_at, mentions: updated.mentions || [], editPending: false });
    } catch (error) {
      if (!(error instanceof NetworkError || error?.status === 503)) throw error;
      this.pendingEdits.set(`${groupId}:${seq}`, { groupId, seq, text });
      this.store.updateMessage(groupId, seq, { text, editPending: true });
    }
  }

  retransmitEdits() {
    for (const { groupId, seq, text } of [...this.pendingEdits.values()]) {
      this.editMessage(groupId, seq, text).catch((error) => {
        this.pendingEdits.delete(`${groupId}:${seq}`);
        this.store.updateMessage(groupId, seq, { editPending: false });
        toast(`Your edit could not be saved: ${describeError(error)}`);
      });
    }
  }
}

const app = new App(document.getElementById("app"));
window.huddle = app; // for the browser console and the end-to-end tests
app.boot();
