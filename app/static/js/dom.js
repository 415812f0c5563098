// Building DOM with createElement and textContent only: nothing a
// user types can become markup (and the CSP forbids inline script and style anyway).

/**
 * h("button", {class: "primary", on: {click}, aria: {label: "Send"}}, "Send")
 * Props: class, text, on (events), aria, data (dataset), and any attribute or DOM property.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
    else if (key === "text") el.textContent = value;
    else if (key === "on") for (const [name, fn] of Object.entries(value)) el.addEventListener(name, fn);
    else if (key === "aria") for (const [name, v] of Object.entries(value)) {
      if (v !== undefined && v !== null) el.setAttribute(`aria-${name}`, String(v));
    }
    else if (key === "data") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replaceChildren(el, ...children) {
  clear(el);
  return append(el, children);
}

/** Says something to screen readers through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  const line = h("p", { text });
  region.append(line);
  while (region.childElementCount > 5) region.firstElementChild.remove();
  setTimeout(() => line.remove(), 15_000);
}

/** A short-lived error or notice at the top of the page (role=alert). */
export function toast(text, kind = "error") {
  const area = document.getElementById("toasts");
  if (!area) return;
  const close = h("button", { type: "button", class: "icon", aria: { label: "Dismiss" }, text: "×" });
  const item = h("div", { class: ["toast", kind] }, h("span", { text }), close);
  close.addEventListener("click", () => item.remove());
  area.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 10_000 : 5_000);
}

/** A modal confirmation with the native <dialog> (focus is trapped and restored by the browser). */
export function confirmDialog(message, { confirm = "OK", danger = false } = {}) {
  return new Promise((resolve) => {
    const ok = h("button", { type: "submit", value: "ok", class: danger ? "danger" : "primary", text: confirm });
    const cancel = h("button", { type: "submit", value: "cancel", text: "Cancel" });
    const dialog = h(
      "dialog",
      { class: "confirm", aria: { labelledby: "confirm-text" } },
      h("form", { method: "dialog" }, h("p", { id: "confirm-text", text: message }), h("div", { class: "row end" }, cancel, ok)),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/** A modal asking for one line of text: resolves to it (trimmed), or null when cancelled or empty. */
export function promptDialog(message, { label, value = "", confirm = "Save", maxLength = 255 } = {}) {
  return new Promise((resolve) => {
    const input = h("input", { id: "prompt-input", name: "value", value, required: true, maxLength, autocomplete: "off" });
    const ok = h("button", { type: "submit", value: "ok", class: "primary", text: confirm });
    const cancel = h("button", { type: "submit", value: "cancel", formNoValidate: true, text: "Cancel" });
    const dialog = h(
      "dialog",
      { class: "confirm", aria: { labelledby: "prompt-text" } },
      h(
        "form",
        { method: "dialog" },
        h("p", { id: "prompt-text", text: message }),
        h("div", { class: "field" }, h("label", { for: "prompt-input", text: label }), input),
        h("div", { class: "row end" }, cancel, ok),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok" ? input.value.trim() || null : null);
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    input.select();
  });
}

export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

export function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const today = new Date();
  return date.toDateString() === today.toDateString() ? timeFormat.format(date) : dateFormat.format(date);
}

export function formatClock(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const mm = String(m % 60).padStart(h ? 2 : 1, "0");
  const ss = String(s % 60).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/).slice(0, 2);
  return parts.map((p) => p[0]?.toUpperCase() || "").join("") || "?";
}

/** A random id (crypto.randomUUID needs a secure context; plain-HTTP deployments on a LAN are not). */
export function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
