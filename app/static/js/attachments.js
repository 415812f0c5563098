// Message attachments: the composer's tray (pick or drop files, upload each with a progress bar) and
// how a message shows its attachments (image thumbnails that open a lightbox, file chips for the rest).
//
// Files go through the same resumable upload service as videos (`purpose: "attachment"`); the server
// checks the kind by content, the size limits and the quota, and answers with the attachment, whose
// id the message then carries in `attachment_ids`. URLs in frames are signed and short-lived, so an
// <img> or a download link needs no Authorization header.

import { icon } from "./icons.js";
import { describeError } from "./api.js";
import { h, replaceChildren, toast } from "./dom.js";

export const MAX_ATTACHMENTS = 10;
const THUMB_PX = 160;
const ACCEPT = "image/png,image/jpeg,image/gif,image/webp,application/pdf,text/plain,application/zip,.txt,.zip,.pdf";

export function humanSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** The files waiting to go with the next message. */
export class AttachmentTray {
  constructor(app, groupId, onChange) {
    this.app = app;
    this.groupId = groupId;
    this.onChange = onChange;
    this.entries = []; // {id, file, loaded, attachment, error}
    this.nextId = 1;
    this.input = h("input", {
      type: "file",
      multiple: true,
      accept: ACCEPT,
      class: "sr-only",
      tabIndex: -1,
      aria: { hidden: "true" },
      on: { change: () => this.addFiles(this.input.files) },
    });
    this.button = h("button", {
      type: "button",
      class: "secondary attach",
      aria: { label: "Attach files" },
      title: "Attach files (or drop them here)",
      on: { click: () => this.input.click() },
    }, icon("attach"));
    this.list = h("ul", { class: "tray", aria: { label: "Attachments to send" }, hidden: true });
  }

  /** Drag and drop onto `target` (the composer) adds the dropped files. */
  acceptDrops(target) {
    target.addEventListener("dragover", (event) => {
      if (![...(event.dataTransfer?.types || [])].includes("Files")) return;
      event.preventDefault();
      target.classList.add("dropping");
    });
    target.addEventListener("dragleave", () => target.classList.remove("dropping"));
    target.addEventListener("drop", (event) => {
      target.classList.remove("dropping");
      if (!event.dataTransfer?.files?.length) return;
      event.preventDefault();
      this.addFiles(event.dataTransfer.files);
    });
  }

  get busy() {
    return this.entries.some((entry) => !entry.attachment && !entry.error);
  }

  get ids() {
    return this.entries.filter((entry) => entry.attachment).map((entry) => entry.attachment.id);
  }

  addFiles(files) {
    for (const file of files) {
      if (this.entries.length >= MAX_ATTACHMENTS) {
        toast(`A message carries at most ${MAX_ATTACHMENTS} attachments.`);
        break;
      }
      const entry = { id: this.nextId++, file, loaded: 0, attachment: null, error: null };
      this.entries.push(entry);
      this.upload(entry);
    }
    this.input.value = "";
    this.render();
  }

  async upload(entry) {
    try {
      entry.attachment = await this.app.media.upload(
        this.groupId,
        entry.file,
        (loaded) => {
          entry.loaded = loaded;
          this.render();
        },
        { purpose: "attachment" },
      );
    } catch (error) {
      entry.error = error?.code === "quota_exceeded" && error.extra?.quota
        ? `Not enough room: your files use ${humanSize(error.extra.used)} of ${humanSize(error.extra.quota)}. Delete messages with attachments to make room.`
        : describeError(error);
    }
    this.render();
  }

  remove(entry) {
    this.entries = this.entries.filter((other) => other !== entry);
    this.render();
  }

  clear() {
    this.entries = [];
    this.render();
  }

  render() {
    this.list.hidden = this.entries.length === 0;
    replaceChildren(
      this.list,
      this.entries.map((entry) => {
        const { file } = entry;
        const state = entry.error ? entry.error : entry.attachment ? "ready" : `${Math.round((100 * entry.loaded) / Math.max(1, file.size))}%`;
        return h(
          "li",
          { class: ["tray-item", entry.error && "failed"] },
          h("span", { class: "file-name", text: file.name }),
          h("span", { class: "file-size", text: humanSize(file.size) }),
          entry.attachment || entry.error
            ? h("span", { class: "file-state", text: state })
            : h("progress", { max: file.size, value: entry.loaded, aria: { label: `Uploading ${file.name}` } }),
          h("button", { type: "button", class: "link", aria: { label: `Remove ${file.name}` }, on: { click: () => this.remove(entry) } }, icon("close")),
        );
      }),
    );
    this.onChange?.();
  }
}

function expired(attachment) {
  const expires = Date.parse(attachment.url_expires_at || "");
  return Number.isFinite(expires) && expires - Date.now() < 30_000;
}

/** A message's attachments: thumbnails (click for the lightbox) and file chips linking to the download.
 * Their URLs are signed and short-lived: `refresh(id)` fetches fresh ones (GET .../info) when a
 * thumbnail fails to load or a link has expired. */
export function renderAttachments(attachments, refresh) {
  if (!attachments?.length) return null;
  const renew = async (a) => Object.assign(a, await refresh(a.id));
  return h(
    "div",
    { class: "attachments" },
    attachments.map((a) => {
      if (a.kind === "image" && a.thumbnail_url) {
        const img = h("img", { src: a.thumbnail_url, alt: a.name, loading: "lazy", width: 160 });
        if (a.width && a.height) {
          // The thumbnail's box is known before it loads (fits 160x160): the chat does not jump.
          const scale = Math.min(1, THUMB_PX / Math.max(a.width, a.height));
          img.width = Math.max(1, Math.round(a.width * scale));
          img.height = Math.max(1, Math.round(a.height * scale));
          img.style.width = `${img.width}px`;
          img.style.height = `${img.height}px`;
        }
        img.addEventListener(
          "error",
          () => renew(a).then(() => { img.src = a.thumbnail_url; }, () => {}),
          { once: true },
        );
        return h(
          "button",
          {
            type: "button",
            class: "thumb",
            data: { action: "open-image" },
            aria: { label: `Open image ${a.name}` },
            on: {
              click: async (event) => {
                const opener = event.currentTarget;
                if (expired(a)) await renew(a).catch(() => {});
                openLightbox(a, opener);
              },
            },
          },
          img,
        );
      }
      const link = h(
        "a",
        { class: "file-chip", href: a.url, download: a.name, data: { kind: a.kind } },
        h("span", { class: "file-name", text: a.name }),
        h("span", { class: "file-size", text: humanSize(a.size) }),
      );
      link.addEventListener("click", (event) => {
        if (!expired(a)) return;
        event.preventDefault();
        renew(a).then(() => {
          link.href = a.url;
          link.click();
        }, () => {});
      });
      return link;
    }),
  );
}

/** A modal dialog with the full image: Escape or Close ends it, and focus goes back to the thumbnail. */
export function openLightbox(attachment, opener) {
  const close = h("button", { type: "submit", class: "secondary", text: "Close" });
  const dialog = h(
    "dialog",
    { class: "lightbox", aria: { label: attachment.name } },
    h(
      "form",
      { method: "dialog" },
      h("img", { src: attachment.url, alt: attachment.name }),
      h(
        "div",
        { class: "row end" },
        h("a", { href: attachment.url, download: attachment.name, text: `Download (${humanSize(attachment.size)})` }),
        close,
      ),
    ),
  );
  dialog.addEventListener("close", () => {
    dialog.remove();
    opener?.focus();
  });
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // a click on the backdrop
  });
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
  return dialog;
}
