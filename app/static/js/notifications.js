// Notifications in the SPA: the settings section (level, mute, do-not-disturb, previews, per group),
// browser notifications while the tab is hidden, and Web Push through a service worker (sw.js) for
// when no tab is open. Permission is asked only from the "Enable notifications" button, never on load.
// The rules are the server's (app/domain/notifications/policy.py), applied here to live frames.

import { describeError } from "./api.js";
import { h, replaceChildren } from "./dom.js";

const WORKER = "/static/sw.js";
const LEVELS = [
  ["all", "All messages"],
  ["mentions", "Only mentions of me"],
  ["nothing", "Nothing"],
];
const supported = () => "Notification" in window;

function minutesIn(timeZone, date) {
  try {
    const parts = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(date);
    const part = (type) => Number(parts.find((p) => p.type === type)?.value || 0);
    return part("hour") * 60 + part("minute");
  } catch {
    return date.getUTCHours() * 60 + date.getUTCMinutes();
  }
}

const clock = (text) => (text ? Number(text.slice(0, 2)) * 60 + Number(text.slice(3, 5)) : null);

/** Whether a message notifies now under `settings` (as the server decides for Web Push). */
export function notifies(settings, groupId, mentioned, now = new Date()) {
  if (!settings) return false;
  const group = settings.groups.find((g) => g.group_id === groupId);
  const level = group?.level || settings.level;
  if (level === "nothing" || (level === "mentions" && !mentioned)) return false;
  for (const until of [settings.mute_until, group?.mute_until]) if (until && Date.parse(until) > now.getTime()) return false;
  const start = clock(settings.dnd_start);
  const end = clock(settings.dnd_end);
  if (start !== null && end !== null && start !== end) {
    const minute = minutesIn(settings.timezone, now);
    const inside = start < end ? minute >= start && minute < end : minute >= start || minute < end;
    if (inside) return false;
  }
  return true;
}

/** The registration once its worker is active (`serviceWorker.ready` waits only for the page's scope). */
async function activated(registration) {
  const worker = registration.installing || registration.waiting;
  if (registration.active || !worker) return registration;
  await new Promise((resolve) => worker.addEventListener("statechange", () => worker.state === "activated" && resolve()));
  return registration;
}

function base64ToBytes(text) {
  const raw = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

export class Notifier {
  constructor(app) {
    this.app = app;
    this.settings = null;
    this.push = "off"; // off | on | unavailable
  }

  async start() {
    try {
      this.settings = await this.app.api.get("/api/v1/notifications/settings");
    } catch {
      this.settings = null; // no notifications until the next sign-in: nothing else depends on it
    }
    if (supported() && Notification.permission === "granted") await this.subscribe().catch(() => {});
    navigator.serviceWorker?.addEventListener("message", (event) => {
      if (event.data?.type === "open" && typeof event.data.url === "string") this.app.navigate(event.data.url);
    });
  }

  /** A live frame: a browser notification when the tab is hidden and the settings let it through. */
  frame(frame) {
    const me = this.app.store.me?.id;
    if (!supported() || Notification.permission !== "granted" || document.visibilityState !== "hidden") return;
    if (frame.type !== "message" || frame.user_id === me || frame.deleted) return;
    if (Date.now() - Date.parse(frame.created_at) > 120_000) return; // a reconnect's catch-up: old news
    const mentioned = (frame.mentions || []).includes(me);
    if (!notifies(this.settings, frame.group_id, mentioned)) return;
    const group = this.app.store.groups.get(frame.group_id);
    const sender = frame.user_name || "Someone";
    const title = !group || group.is_direct ? sender : `${sender} in ${this.app.store.displayName(group)}`;
    const body = this.settings.previews ? frame.text || "Attachment" : mentioned ? "You were mentioned" : "New message";
    const url = `/g/${frame.group_id}?seq=${frame.seq}`;
    const options = { body, tag: `huddle-${frame.group_id}-${frame.seq}`, data: { url } };
    let shown;
    try {
      shown = new window.Notification(title, options);
    } catch {
      // Android's Chrome has no page Notifications: the service worker shows it (its click opens the chat).
      navigator.serviceWorker?.getRegistration(WORKER).then((registration) => registration?.showNotification(title, options));
      return;
    }
    shown.onclick = () => {
      window.focus();
      shown.close();
      this.app.navigate(url);
    };
  }

  /** From a click only: ask for permission, then register the service worker and push subscription. */
  async enable() {
    if (!supported()) throw new Error("This browser cannot show notifications.");
    const answer = await Notification.requestPermission();
    if (answer !== "granted") throw new Error("Notifications are blocked for this site in the browser's settings.");
    await this.subscribe();
  }

  async subscribe() {
    if (!("serviceWorker" in navigator)) {
      this.push = "unavailable";
      return;
    }
    const registration = await activated(await navigator.serviceWorker.register(WORKER));
    try {
      const { public_key: key } = await this.app.api.get("/api/v1/push/key");
      if (!key || !registration.pushManager) throw new Error("no push");
      const subscription =
        (await registration.pushManager.getSubscription()) ||
        (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: base64ToBytes(key) }));
      await this.app.api.post("/api/v1/push/subscriptions", subscription.toJSON());
      this.push = "on";
    } catch {
      this.push = "unavailable"; // no push service reachable (or none configured): tab notifications still work
    }
  }

  async disable() {
    const registration = await navigator.serviceWorker?.getRegistration(WORKER);
    const subscription = await registration?.pushManager?.getSubscription();
    if (subscription) {
      await this.app.api.delete(`/api/v1/push/subscriptions?endpoint=${encodeURIComponent(subscription.endpoint)}`).catch(() => {});
      await subscription.unsubscribe();
    }
    this.push = "off";
  }

  async save(change) {
    this.settings = await this.app.api.patch("/api/v1/notifications/settings", change);
  }

  async saveGroup(groupId, change) {
    await this.app.api.put(`/api/v1/notifications/groups/${groupId}`, change);
    this.settings = await this.app.api.get("/api/v1/notifications/settings");
  }
}

// -- the settings section ----------------------------------------------------------------------------

function select(id, options, value) {
  const el = h("select", { id }, options.map(([v, label]) => h("option", { value: v, text: label })));
  el.value = value;
  return el;
}

function muteChoice(id) {
  return select(id, [["", "Not muted"], ["1", "Mute for 1 hour"], ["8", "Mute for 8 hours"], ["24", "Mute for 24 hours"], ["168", "Mute for a week"]], "");
}

const muteUntil = (hours) => (hours ? new Date(Date.now() + Number(hours) * 3600_000).toISOString() : null);

export function notificationSettingsSection(app) {
  const notifier = app.notifier;
  const status = h("p", { class: "hint", role: "status" });
  const error = h("p", { class: "form-error", role: "alert" });
  const body = h("div", {});
  const fail = (failure) => (error.textContent = describeError(failure) || String(failure.message || failure));

  const describe = () => {
    if (!supported()) return "This browser cannot show notifications.";
    if (Notification.permission === "denied") return "Notifications are blocked for this site in the browser's settings.";
    if (Notification.permission !== "granted") return "Notifications are off in this browser.";
    if (notifier.push === "on") return "Notifications are on, also when no Huddle tab is open.";
    if (notifier.push === "unavailable") return "Notifications are on while a Huddle tab is open (this browser offers no push service).";
    return "Notifications are allowed, but not set up on this device yet.";
  };

  const render = () => {
    const s = notifier.settings;
    status.textContent = describe();
    if (!s) {
      replaceChildren(body);
      return;
    }
    const level = select("notify-level", LEVELS, s.level);
    level.addEventListener("change", () => notifier.save({ level: level.value }).then(render, fail));
    const mute = muteChoice("notify-mute");
    mute.addEventListener("change", () => notifier.save({ mute_until: muteUntil(mute.value) }).then(render, fail));
    const previews = h("input", { type: "checkbox", id: "notify-previews", checked: s.previews });
    previews.addEventListener("change", () => notifier.save({ previews: previews.checked }).then(render, fail));
    const start = h("input", { type: "time", id: "dnd-start", value: s.dnd_start || "" });
    const end = h("input", { type: "time", id: "dnd-end", value: s.dnd_end || "" });
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    const saveDnd = () => {
      if (!start.value !== !end.value) return; // both, or neither
      notifier.save({ dnd_start: start.value || null, dnd_end: end.value || null, timezone: zone }).then(render, fail);
    };
    start.addEventListener("change", saveDnd);
    end.addEventListener("change", saveDnd);
    const mutedUntil = s.mute_until && Date.parse(s.mute_until) > Date.now() ? `Muted until ${new Date(s.mute_until).toLocaleString()}.` : "";
    const groups = [...app.store.groups.values()].map((group) => {
      const own = s.groups.find((g) => g.group_id === group.id);
      const id = `notify-group-${group.id}`;
      const name = app.store.displayName(group);
      const choice = select(id, [["", "Default"], ...LEVELS], own?.level || "");
      choice.addEventListener("change", () => notifier.saveGroup(group.id, { level: choice.value || null, mute_until: own?.mute_until || null }).then(render, fail));
      const muted = own?.mute_until && Date.parse(own.mute_until) > Date.now();
      const groupMute = muteChoice(`${id}-mute`);
      groupMute.setAttribute("aria-label", `Mute ${name}`);
      if (muted) groupMute.prepend(h("option", { value: "keep", text: `Muted until ${new Date(own.mute_until).toLocaleString()}` }));
      groupMute.value = muted ? "keep" : "";
      groupMute.addEventListener("change", () => {
        if (groupMute.value !== "keep") notifier.saveGroup(group.id, { level: own?.level || null, mute_until: muteUntil(groupMute.value) }).then(render, fail);
      });
      return h("li", { class: "member" }, h("label", { for: id, class: "member-name", text: name }), choice, groupMute);
    });
    replaceChildren(
      body,
      h("div", { class: "field" }, h("label", { for: "notify-level", text: "Notify me about" }), level),
      h("div", { class: "field" }, h("label", { for: "notify-mute", text: "Mute" }), mute, mutedUntil ? h("p", { class: "hint", text: mutedUntil }) : null),
      h("fieldset", { class: "field" }, h("legend", { text: `Do not disturb, daily (${s.timezone === zone ? zone : `${s.timezone}; saving uses ${zone}`})` }), h("label", { for: "dnd-start", text: "From" }), start, h("label", { for: "dnd-end", text: "to" }), end),
      h("div", { class: "field" }, previews, h("label", { for: "notify-previews", text: " Show message text in notifications (push services see it encrypted)" })),
      h("h3", { text: "Per chat" }),
      h("ul", { class: "blocked-list", aria: { label: "Notifications per chat" } }, groups),
    );
  };

  const enable = h("button", { type: "button", class: "primary", text: "Enable notifications" });
  enable.addEventListener("click", () => {
    error.textContent = "";
    notifier.enable().then(render, fail);
  });
  const disable = h("button", { type: "button", class: "secondary", text: "Stop push on this device" });
  disable.addEventListener("click", () => notifier.disable().then(render, fail));
  render();
  if (!notifier.settings) notifier.start().then(render);
  return h("section", { class: "notification-settings", aria: { labelledby: "notify-title" } }, h("h2", { id: "notify-title", text: "Notifications" }), status, h("div", { class: "row" }, enable, disable), error, body);
}
