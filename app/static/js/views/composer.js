// The chat's composer: Enter to send, the length limit, typing signals, replying to a message.
// Methods of ChatView (mixed into it by views/chat.js): `this` is the chat view.

import { toast } from "../dom.js";
import { TYPING_SHOWN_MS } from "../state.js";
import { tooLong } from "./message_rules.js";

export const composer = {
  composerKey(event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      this.send();
    } else if (event.key === "Escape" && this.replyTo) {
      event.preventDefault();
      this.setReply(null);
    } else if (event.key === "ArrowUp" && !this.input.value) {
      const me = this.store.me?.id;
      const own = this.chat.sorted().filter((f) => f.type === "message" && f.user_id === me && !f.deleted).at(-1);
      if (own) {
        event.preventDefault();
        this.startEdit(own, { fromComposer: true });
      }
    }
  },

  /** Long pastes are kept whole and counted as the server counts; too long is said, never cut. */
  checkLength() {
    const problem = tooLong(this.input.value);
    if (this.limitLine.textContent !== (problem || "")) this.limitLine.textContent = problem || "";
    if (problem) this.input.setAttribute("aria-invalid", "true");
    else this.input.removeAttribute("aria-invalid");
    return !problem;
  },

  send() {
    const text = this.input.value;
    if (!this.checkLength()) {
      this.input.focus();
      return;
    }
    if (this.tray.busy) {
      toast("Wait for the attachments to finish uploading.", "info");
      return;
    }
    const attachmentIds = this.tray.ids;
    if (!text.trim() && !attachmentIds.length) return;
    this.app.sendMessage(this.groupId, text, this.replyTo?.seq ?? null, attachmentIds);
    this.tray.clear();
    this.input.value = "";
    this.checkLength();
    this.setReply(null, { keepFocus: true });
    this.scrollToBottom();
  },

  sendTyping() {
    const now = Date.now();
    if (!this.input.value.trim()) {
      this.stopTyping();
      return;
    }
    if (now - this.lastTypingSent < 2_000) return;
    this.lastTypingSent = now;
    this.app.realtime?.send({ type: "typing", group_id: this.groupId });
  },

  /** The box cleared, the chat left or the tab closed: the others stop seeing "typing…" now, not
   * when it fades. Nothing is sent if they were never told, or it has faded already. */
  stopTyping() {
    if (Date.now() - this.lastTypingSent > TYPING_SHOWN_MS) return;
    this.lastTypingSent = 0;
    this.app.realtime?.send({ type: "typing", group_id: this.groupId, active: false });
  },

  setReply(frame, { keepFocus = false } = {}) {
    this.replyTo = frame;
    this.replyBanner.hidden = !frame;
    if (frame) {
      const who = frame.user_id === this.store.me?.id ? "yourself" : frame.user_name || frame.user;
      this.replyText.textContent = `${who}: “${frame.text.length > 80 ? `${frame.text.slice(0, 80)}…` : frame.text}”`;
    }
    if (!keepFocus) this.input.focus();
  },
};
