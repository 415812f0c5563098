// One group's chat: history with infinite scroll upward, live messages, optimistic sends, replies,
// edits, deletions, reactions, typing, "seen by" receipts and online members.

import { describeError } from "../api.js";
import { AttachmentTray, renderAttachments } from "../attachments.js";
import { announce, formatClock, formatTime, h, initials, replaceChildren, toast } from "../dom.js";
import { MembersPanel } from "./members.js";
import { blockButton } from "../blocks.js";
import { attachMentionAutocomplete, mentionNodes } from "../mentions.js";
import { composer } from "./composer.js";
import { messageActions } from "./message_actions.js";
import { REACTIONS } from "./message_rules.js";
import { PlayerPanel } from "./player.js";

const PAGE = 50;
const NEAR_BOTTOM_PX = 80;

export class ChatView {
  constructor(app, groupId) {
    this.app = app;
    this.store = app.store;
    this.groupId = groupId;
    this.items = new Map(); // seq -> <li>
    this.replyTo = null;
    this.loadingOlder = false;
    this.lastTypingSent = 0;
    this.build();
    this.onChange = (event) => this.changed(event.detail);
    this.store.addEventListener("change", this.onChange);
    this.onVisible = () => this.markSeen();
    document.addEventListener("visibilitychange", this.onVisible);
    this.onPageHide = () => this.stopTyping(); // the tab closes or navigates away
    window.addEventListener("pagehide", this.onPageHide);
  }

  get group() {
    return this.store.groups.get(this.groupId);
  }

  get chat() {
    return this.store.chat(this.groupId);
  }

  // -- structure -----------------------------------------------------------------------------------

  build() {
    const group = this.group;
    const name = this.store.displayName(group);
    this.title = h("h1", { id: "chat-title", tabIndex: -1, text: name });
    this.subtitle = h("p", { class: "subtitle", id: "chat-subtitle" });
    this.membersButton = h("button", {
      type: "button",
      class: "secondary",
      aria: { expanded: "false", controls: "members-panel" },
      text: "Members",
      on: { click: () => this.members.toggle() },
    });
    this.watchButton = h("button", {
      type: "button",
      class: "secondary",
      aria: { expanded: "false", controls: "player" },
      text: "Watch together",
      on: { click: () => this.player.toggle() },
    });
    this.watchHint = h("span", { class: "watch-hint", id: "watch-hint", hidden: true });
    this.blockSlot = h("span", { class: "block-slot" }); // a direct chat's Block / Unblock
    this.olderButton = h("button", { type: "button", class: "link", text: "Load older messages", on: { click: () => this.loadOlder() } });
    this.historyTop = h("div", { class: "history-top" }, this.olderButton);
    this.list = h("ol", { class: "message-list", aria: { label: "Messages" } });
    this.pendingList = h("ol", { class: "message-list pending-list", aria: { label: "Messages being sent" } });
    this.receipt = h("p", { class: "receipt", id: "receipt" });
    this.scroller = h(
      "div",
      { class: "messages", tabIndex: 0, aria: { label: `Conversation in ${name}`, describedby: "messages-hint" } },
      h("p", { id: "messages-hint", class: "sr-only", text: "Arrow keys move between messages; Tab reaches a message's actions." }),
      this.historyTop,
      this.list,
      this.pendingList,
    );
    this.jump = h("button", { type: "button", class: "jump", hidden: true, text: "New messages ↓", on: { click: () => this.scrollToBottom() } });
    this.typingLine = h("p", { class: "typing", id: "typing" });
    this.replyText = h("span", { class: "reply-text" });
    this.replyBanner = h(
      "div",
      { class: "reply-banner", hidden: true },
      h("span", { text: "Replying to " }),
      this.replyText,
      h("button", { type: "button", class: "link", text: "Cancel reply", on: { click: () => this.setReply(null) } }),
    );
    this.input = h("textarea", {
      id: "composer",
      rows: 1,
      placeholder: `Message ${name}`,
      aria: { describedby: "composer-hint composer-limit" },
      autocomplete: "off",
    });
    this.limitLine = h("p", { id: "composer-limit", class: "form-error composer-limit", aria: { live: "polite" } });
    this.mentionList = attachMentionAutocomplete(this.input, () => this.chat.members, { meId: this.store.me?.id });
    this.composerLabel = h("label", { for: "composer", class: "sr-only", text: `Message ${name}` });
    this.tray = new AttachmentTray(this.app, this.groupId);
    this.composer = h(
      "form",
      { class: "composer" },
      this.tray.list,
      this.composerLabel,
      this.tray.input,
      this.tray.button,
      this.input,
      this.mentionList,
      h("button", { type: "submit", class: "primary", text: "Send" }),
      h("p", { id: "composer-hint", class: "sr-only", text: "Enter sends, Shift+Enter starts a new line, Up arrow edits your last message." }),
      this.limitLine,
    );
    this.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.tray.acceptDrops(this.composer);
    this.input.addEventListener("keydown", (event) => this.composerKey(event));
    this.input.addEventListener("input", () => {
      this.checkLength();
      this.sendTyping();
    });
    this.scroller.addEventListener("scroll", () => this.scrolled(), { passive: true });
    // An image that finishes loading (or anything else that grows) keeps a chat at the bottom there.
    this.scroller.addEventListener("load", () => {
      if (this.stuck) {
        this.scrollToBottom();
        this.markSeen();
      }
    }, true);
    // Keyboard: the conversation is one Tab stop. Arrow keys move between messages; Tab from a
    // message reaches its own buttons only, so fifty messages do not mean 250 Tab presses.
    this.scroller.addEventListener("keydown", (event) => this.navigate(event));
    this.scroller.addEventListener("focusin", (event) => {
      const li = event.target.closest?.("li[data-seq], li[data-client-msg-id]");
      if (li) this.activate(li);
    });

    this.members = new MembersPanel(this.app, this);
    this.player = new PlayerPanel(this.app, this);
    const back = h("a", { href: "/", class: "back", data: { nav: "" }, aria: { label: "Back to chats" }, text: "←" });
    this.el = h(
      "section",
      { class: "chat", aria: { labelledby: "chat-title" } },
      h(
        "div",
        { class: "chat-main" },
        h("header", { class: "chat-header" }, back, h("div", { class: "chat-heading" }, this.title, this.subtitle), h("div", { class: "chat-tools" }, this.watchHint, this.blockSlot, this.watchButton, this.membersButton)),
        this.player.el,
        h("div", { class: "conversation" }, this.scroller, this.jump),
        this.typingLine,
        this.replyBanner,
        this.composer,
      ),
      this.members.el,
    );
    // Opening the player or a panel shrinks the conversation: one that was at the bottom stays there.
    this.stuck = true;
    this.resizer = new ResizeObserver(() => {
      if (this.stuck) {
        this.scrollToBottom();
        this.markSeen();
      }
    });
    this.resizer.observe(this.scroller);
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) this.loadOlder();
    }, { root: this.scroller, rootMargin: "200px 0px 0px 0px" });
  }

  async mount() {
    this.renderAll();
    this.renderSubtitle();
    this.renderBlock();
    this.player.restore();
    const chat = this.chat;
    try {
      if (!chat.historyLoaded) {
        const page = await this.app.api.get(`/api/v1/groups/${this.groupId}/messages`, { limit: PAGE });
        this.store.addHistory(this.groupId, page, { older: false });
      }
    } catch (failure) {
      toast(`Could not load the conversation: ${describeError(failure)}`);
    }
    this.scrollToBottom();
    this.observer.observe(this.historyTop);
    this.markSeen();
    this.members.load();
  }

  unmount() {
    this.stopTyping();
    this.store.removeEventListener("change", this.onChange);
    document.removeEventListener("visibilitychange", this.onVisible);
    window.removeEventListener("pagehide", this.onPageHide);
    this.observer.disconnect();
    this.resizer.disconnect();
    this.player.destroy();
    this.members.destroy();
  }

  focus() {
    this.input.focus();
  }

  // -- store events --------------------------------------------------------------------------------

  changed(detail) {
    if (detail.groupId !== undefined && detail.groupId !== this.groupId) return;
    switch (detail.kind) {
      case "history":
        this.renderHistory(detail.older);
        break;
      case "reset":
        this.renderAll();
        break;
      case "message":
        this.liveMessage(detail.frame, detail.mine);
        break;
      case "message-changed":
        this.upsert(detail.frame);
        this.requoted(detail.frame);
        this.renderReceipt();
        break;
      case "pending":
        this.renderPending();
        break;
      case "typing":
        this.renderTyping();
        break;
      case "members":
        // Mention chips need the members' names.
        for (const frame of this.chat.messages.values()) if (frame.mentions?.length && this.items.has(frame.seq)) this.upsert(frame);
        this.renderSubtitle();
        this.renderReceipt();
        break;
      case "presence":
        this.renderSubtitle();
        this.renderReceipt();
        break;
      case "receipts":
        this.renderReceipt();
        break;
      case "groups":
        this.renderTitle();
        this.renderBlock();
        break;
      case "blocks":
        this.renderBlock();
        break;
      default:
    }
  }

  /** In a direct chat, Block (or Unblock) the other person; a refusal shows as a toast. */
  renderBlock() {
    const peer = this.group?.is_direct ? this.group.peer : null;
    replaceChildren(this.blockSlot, peer ? blockButton(this.app, peer, (text) => toast(text), { className: "secondary" }) : []);
  }

  renderTitle() {
    const group = this.group;
    if (!group) return;
    const name = this.store.displayName(group);
    if (this.title.textContent !== name) {
      // Everything that names the chat: heading, tab title, the conversation and the composer.
      this.title.textContent = name;
      document.title = `${name} · Huddle`;
      this.scroller.setAttribute("aria-label", `Conversation in ${name}`);
      this.input.placeholder = `Message ${name}`;
      this.composerLabel.textContent = `Message ${name}`;
    }
  }

  renderSubtitle() {
    const group = this.group;
    const chat = this.chat;
    if (!group) return;
    const others = [...chat.online].filter((id) => id !== this.store.me?.id);
    if (!this.app.realtime?.open) {
      this.subtitle.textContent = group.is_direct ? "Not connected" : `${group.member_count || chat.members?.length || 0} members · not connected`;
      return;
    }
    if (group.is_direct) {
      this.subtitle.textContent = group.peer && chat.online.has(group.peer.id) ? "Online" : "Offline";
    } else {
      const names = others.map((id) => chat.memberName(id)).filter(Boolean);
      const count = group.member_count || chat.members?.length || 0;
      const online = others.length ? `${others.length + 1} online${names.length ? ` (you, ${names.join(", ")})` : ""}` : "Only you online";
      this.subtitle.textContent = `${count} member${count === 1 ? "" : "s"} · ${online}`;
    }
  }

  renderTyping() {
    const names = this.store.typingNames(this.groupId);
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = "Several people are typing…";
    this.typingLine.textContent = text;
  }

  // -- messages ------------------------------------------------------------------------------------

  renderAll() {
    this.items.clear();
    replaceChildren(this.list, this.chat.sorted().map((frame) => this.renderItem(frame)));
    for (const li of this.list.children) this.items.set(Number(li.dataset.seq), li);
    this.renderPending();
    this.renderHistoryTop();
    this.renderReceipt();
  }

  renderHistory(older) {
    const before = this.scroller.scrollHeight - this.scroller.scrollTop;
    const atBottom = this.nearBottom();
    for (const frame of this.chat.sorted()) this.upsert(frame);
    this.renderHistoryTop();
    this.renderReceipt();
    if (older) this.scroller.scrollTop = this.scroller.scrollHeight - before; // keep what was on screen
    else if (atBottom) this.scrollToBottom();
  }

  renderHistoryTop() {
    const chat = this.chat;
    const oldest = chat.oldestSeq;
    const more = chat.hasMore && oldest !== null && oldest > 1;
    replaceChildren(
      this.historyTop,
      more ? this.olderButton : h("p", { class: "muted", text: chat.historyLoaded || oldest === 1 ? "This is the beginning of the conversation." : "" }),
    );
  }

  liveMessage(frame, mine) {
    const wasNearBottom = this.nearBottom();
    this.upsert(frame);
    this.renderPending();
    this.renderReceipt();
    this.renderTyping();
    if (frame.type === "message" && !mine) {
      announce(`${frame.user_name || frame.user}: ${frame.deleted ? "deleted message" : frame.text}`);
    }
    if (mine || wasNearBottom) {
      this.scrollToBottom();
      this.markSeen();
    } else {
      this.jump.hidden = false;
    }
  }

  /** All message elements in order (sent, then still sending). */
  navigable() {
    return [...this.scroller.querySelectorAll("li[data-seq], li[data-client-msg-id]")];
  }

  navigate(event) {
    if (!["ArrowUp", "ArrowDown", "Home", "End"].includes(event.key)) return;
    if (event.target.closest("textarea, input, select, .emoji-picker")) return;
    const items = this.navigable();
    if (!items.length) return;
    const current = event.target.closest("li[data-seq], li[data-client-msg-id]");
    let index = current ? items.indexOf(current) : items.length;
    if (event.key === "ArrowUp") index = Math.max(0, index - 1);
    else if (event.key === "ArrowDown") index = Math.min(items.length - 1, index + 1);
    else index = event.key === "Home" ? 0 : items.length - 1;
    event.preventDefault();
    items[index].focus();
    if (event.key === "Home" || (event.key === "ArrowUp" && index === 0)) this.loadOlder();
  }

  /** The focused message's buttons join the Tab order; every other message's leave it. */
  activate(li) {
    if (this.active === li) return;
    if (this.active) for (const control of this.active.querySelectorAll("button, a[href]")) control.tabIndex = -1;
    this.active = li;
    for (const control of li.querySelectorAll("button, a[href]")) control.tabIndex = 0;
  }

  /** Inserts or replaces one message element, in seq order. */
  upsert(frame) {
    const existing = this.items.get(frame.seq);
    const focused = existing?.contains(document.activeElement) ? document.activeElement : null;
    const li = this.renderItem(frame);
    // An edit in progress survives a re-render (a reaction, a reconnect's history): box, text, focus.
    const editing = existing?.querySelector(".edit-form");
    const text = li.querySelector(".text");
    if (editing && text && !frame.deleted) {
      text.hidden = true;
      text.after(editing);
    }
    if (existing) {
      existing.replaceWith(li);
    } else {
      let next = null;
      for (const [seq, el] of this.items) if (seq > frame.seq && (!next || seq < Number(next.dataset.seq))) next = el;
      this.list.insertBefore(li, next);
    }
    this.items.set(frame.seq, li);
    if (focused && !li.contains(focused)) {
      const again = focused === existing ? li : li.querySelector(`[data-action="${focused.dataset.action}"]`);
      (again || li).focus();
    }
    // The next message may now continue this one (same author, shortly after): render it again.
    const after = this.chat.messages.get(frame.seq + 1);
    const afterEl = this.items.get(frame.seq + 1);
    if (!existing && after && afterEl && afterEl.classList.contains("cont") !== this.continues(after)) {
      const replacement = this.renderItem(after);
      afterEl.replaceWith(replacement);
      this.items.set(after.seq, replacement);
    }
  }

  /** An edit or a delete reaches every reply that quotes the message, and the reply banner. */
  requoted(original) {
    for (const frame of this.chat.messages.values()) {
      if (frame.reply_to === original.seq && this.items.has(frame.seq)) this.upsert(frame);
    }
    if (this.replyTo?.seq === original.seq) {
      if (original.deleted) this.setReply(null, { keepFocus: true });
      else this.setReply(original, { keepFocus: true });
    }
  }

  /** Same author as the message just before, within five minutes: shown without its header. */
  continues(frame) {
    const previous = this.chat.messages.get(frame.seq - 1);
    if (!previous || previous.type !== "message" || frame.type !== "message" || frame.reply_to) return false;
    if (previous.user_id !== frame.user_id) return false;
    return Date.parse(frame.created_at) - Date.parse(previous.created_at) < 5 * 60_000;
  }

  renderItem(frame) {
    const li = this.#renderItem(frame);
    for (const button of li.querySelectorAll("button")) button.tabIndex = -1;
    return li;
  }

  #renderItem(frame) {
    if (frame.type !== "message") return this.renderSystem(frame);
    const me = this.store.me;
    const mine = frame.user_id === me?.id;
    const author = mine ? "You" : frame.user_name || frame.user;
    const li = h("li", {
      class: ["msg", mine && "mine", frame.deleted && "deleted", this.continues(frame) && "cont"],
      id: `m-${frame.group_id}-${frame.seq}`,
      data: { seq: String(frame.seq) },
      tabIndex: -1,
    });
    const meta = h(
      "div",
      { class: "meta" },
      h("span", { class: "avatar small", aria: { hidden: "true" }, text: initials(frame.user_name || frame.user) }),
      h("span", { class: "author", text: author }),
      h("time", { datetime: frame.created_at, text: formatTime(frame.created_at) }),
      frame.editPending && !frame.deleted
        ? h("span", { class: "edited", text: "(edit waiting for connection…)" })
        : frame.edited_at && !frame.deleted ? h("span", { class: "edited", text: "(edited)" }) : null,
    );
    li.append(meta);
    if (frame.reply_to) li.append(this.renderReplyRef(frame.reply_to));
    if (frame.deleted) {
      li.append(h("p", { class: "text muted", text: "This message was deleted." }));
      return li;
    }
    if (frame.text) {
      const me = this.store.me?.id;
      li.append(h("p", { class: ["text", frame.mentions?.includes(me) && "mentions-me"] }, mentionNodes(frame.text, frame.mentions, this.chat.members, me)));
    }
    const attachments = renderAttachments(frame.attachments, (id) => this.app.api.get(`/api/v1/attachments/${id}/info`));
    if (attachments) {
      for (const link of attachments.querySelectorAll("a")) link.tabIndex = -1;
      li.append(attachments);
    }
    // One order for everyone, however the reactions arrived: the picker's, then any other emoji.
    const rank = (emoji) => (REACTIONS.includes(emoji) ? REACTIONS.indexOf(emoji) : REACTIONS.length);
    const reactions = (frame.reactions || [])
      .filter((r) => r.count > 0)
      .sort((a, b) => rank(a.emoji) - rank(b.emoji) || (a.emoji < b.emoji ? -1 : a.emoji > b.emoji ? 1 : 0));
    if (reactions.length) {
      li.append(
        h(
          "div",
          { class: "reactions", role: "group", aria: { label: "Reactions" } },
          reactions.map((r) =>
            h("button", {
              type: "button",
              class: ["reaction", r.me && "mine"],
              data: { action: `reaction-${r.emoji}` },
              aria: { pressed: r.me ? "true" : "false", label: `${r.emoji} ${r.count}${r.me ? ", including you" : ""}` },
              text: `${r.emoji} ${r.count}`,
              on: { click: () => this.toggleReaction(frame, r.emoji, r.me) },
            }),
          ),
        ),
      );
    }
    const admin = this.group?.role === "admin";
    const actions = h(
      "div",
      { class: "actions", role: "group", aria: { label: `Actions for message from ${author}` } },
      h("button", { type: "button", data: { action: "reply" }, text: "Reply", on: { click: () => this.setReply(frame) } }),
      h("button", { type: "button", data: { action: "react" }, aria: { haspopup: "true", expanded: "false" }, text: "React", on: { click: (event) => this.openPicker(frame, event.currentTarget) } }),
      mine ? h("button", { type: "button", data: { action: "edit" }, text: "Edit", on: { click: () => this.startEdit(frame) } }) : null,
      mine || admin ? h("button", { type: "button", data: { action: "delete" }, class: "danger-text", text: "Delete", on: { click: () => this.deleteMessage(frame) } }) : null,
      mine ? h("button", { type: "button", data: { action: "readers" }, text: "Seen by", on: { click: () => this.showReaders(frame) } }) : null,
    );
    li.append(actions);
    return li;
  }

  renderSystem(frame) {
    let text = frame.text;
    if (frame.type === "video_control") {
      const who = frame.user_id === this.store.me?.id ? "You" : this.chat.memberName(frame.user_id) || frame.user;
      const verb = { play: "played", pause: "paused", seek: "jumped to", rate: "changed the speed at" }[frame.video_action] || frame.video_action;
      text = `${who} ${verb} ${frame.video_action === "seek" ? formatClock(frame.video_time) : `at ${formatClock(frame.video_time)}`}${frame.video_name ? ` · ${frame.video_name}` : ""}`;
    }
    return h(
      "li",
      { class: ["system", frame.type], id: `m-${frame.group_id}-${frame.seq}`, data: { seq: String(frame.seq) }, tabIndex: -1 },
      h("span", { text }),
      h("time", { datetime: frame.created_at, text: formatTime(frame.created_at) }),
    );
  }

  renderReplyRef(seq) {
    const original = this.chat.messages.get(seq);
    const label = original
      ? `${original.user_id === this.store.me?.id ? "You" : original.user_name || original.user}: ${original.deleted ? "deleted message" : original.text}`
      : "an earlier message";
    return h(
      "button",
      {
        type: "button",
        class: "reply-ref",
        data: { action: "goto-reply" },
        aria: { label: `In reply to ${label}. Show it.` },
        on: { click: () => this.reveal(seq) },
      },
      h("span", { class: "reply-arrow", aria: { hidden: "true" }, text: "↪ " }),
      h("span", { text: label.length > 120 ? `${label.slice(0, 120)}…` : label }),
    );
  }

  reveal(seq) {
    const li = this.items.get(seq);
    if (!li) {
      toast("That message is further back; scroll up to load it.", "info");
      return;
    }
    li.scrollIntoView({ block: "center" });
    li.classList.add("flash");
    setTimeout(() => li.classList.remove("flash"), 1500);
    li.focus();
  }

  renderPending() {
    const pending = [...this.chat.pending.values()];
    replaceChildren(
      this.pendingList,
      pending.map((entry) => {
        const failed = entry.status === "failed";
        const state = failed ? entry.error || "Not sent" : entry.status === "queued" ? "Waiting for connection…" : "Sending…";
        return h(
          "li",
          { class: ["msg", "mine", "pending", failed && "failed"], data: { clientMsgId: entry.client_msg_id }, tabIndex: -1 },
          h("div", { class: "meta" }, h("span", { class: "author", text: "You" }), h("span", { class: "status", text: state })),
          h("p", { class: "text", text: entry.text || `${entry.attachment_ids?.length || 0} attachment(s)` }),
          failed
            ? h(
                "div",
                { class: "actions visible" },
                h("button", { type: "button", text: "Retry", on: { click: () => this.app.retrySend(this.groupId, entry.client_msg_id) } }),
                h("button", { type: "button", text: "Discard", on: { click: () => this.store.removePending(this.groupId, entry.client_msg_id) } }),
              )
            : null,
        );
      }),
    );
  }

  /** "Seen by" under your newest message: members whose read position has reached it. */
  renderReceipt() {
    const me = this.store.me?.id;
    let last = null;
    for (const frame of this.chat.messages.values()) {
      if (frame.type === "message" && frame.user_id === me && !frame.deleted && (!last || frame.seq > last.seq)) last = frame;
    }
    const newest = this.chat.newestSeq;
    this.receipt.remove();
    if (!last || this.chat.pending.size) {
      this.receipt.textContent = "";
      return;
    }
    this.items.get(last.seq)?.append(this.receipt);
    const readers = [];
    for (const [userId, seq] of this.chat.reads) {
      const name = this.chat.memberName(userId); // only current members (someone may have left)
      if (userId !== me && seq >= last.seq && name) readers.push(name);
    }
    const othersCount = (this.chat.members?.length || this.group?.member_count || 1) - 1;
    let text = "";
    if (readers.length && readers.length === othersCount && othersCount > 1) text = "Seen by everyone";
    else if (readers.length) text = `Seen by ${readers.sort().join(", ")}`;
    else if (last.seq === newest) text = "Sent";
    this.receipt.textContent = text;
  }

  // -- actions: views/composer.js and views/message_actions.js, mixed in below ---------------------

  // -- scrolling and reading -----------------------------------------------------------------------

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.jump.hidden = true;
  }

  scrolled() {
    this.stuck = this.nearBottom();
    if (this.stuck) {
      this.jump.hidden = true;
      this.markSeen();
    }
  }

  markSeen() {
    if (document.visibilityState !== "visible" || !this.nearBottom()) return;
    this.app.markSeen(this.groupId);
  }

  async loadOlder() {
    const chat = this.chat;
    const oldest = chat.oldestSeq;
    if (this.loadingOlder || !chat.historyLoaded || !chat.hasMore || oldest === null || oldest <= 1) return;
    this.loadingOlder = true;
    this.olderButton.disabled = true;
    this.olderButton.textContent = "Loading…";
    try {
      const page = await this.app.api.get(`/api/v1/groups/${this.groupId}/messages`, { before_seq: oldest, limit: PAGE });
      this.store.addHistory(this.groupId, page, { older: true });
    } catch (failure) {
      toast(`Could not load older messages: ${describeError(failure)}`);
    } finally {
      this.loadingOlder = false;
      this.olderButton.disabled = false;
      this.olderButton.textContent = "Load older messages";
    }
  }
}

Object.assign(ChatView.prototype, composer, messageActions);
