// What a member does to one message: react (the emoji picker), edit, delete, see who read it.
// Methods of ChatView (mixed into it by views/chat.js): `this` is the chat view.

import { describeError } from "../api.js";
import { announce, confirmDialog, h, toast } from "../dom.js";
import { REACTIONS, tooLong } from "./message_rules.js";

export const messageActions = {
  openPicker(frame, button) {
    const li = button.closest("li");
    li.querySelector(".emoji-picker")?.remove();
    if (button.getAttribute("aria-expanded") === "true") {
      button.setAttribute("aria-expanded", "false");
      return;
    }
    const close = () => {
      picker.remove();
      button.setAttribute("aria-expanded", "false");
      document.removeEventListener("pointerdown", outside, true);
    };
    const outside = (event) => {
      if (!picker.contains(event.target) && event.target !== button) close();
    };
    const picker = h(
      "div",
      { class: "emoji-picker", role: "group", aria: { label: "Choose a reaction" } },
      REACTIONS.map((emoji) => {
        const mineAlready = (frame.reactions || []).some((r) => r.emoji === emoji && r.me);
        return h("button", {
          type: "button",
          aria: { label: `React with ${emoji}`, pressed: mineAlready ? "true" : "false" },
          text: emoji,
          on: {
            click: () => {
              close();
              button.focus();
              this.toggleReaction(frame, emoji, mineAlready);
            },
          },
        });
      }),
    );
    picker.addEventListener("keydown", (event) => {
      const buttons = [...picker.querySelectorAll("button")];
      const index = buttons.indexOf(document.activeElement);
      if (event.key === "Escape") {
        event.preventDefault();
        close();
        button.focus();
      } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
        event.preventDefault();
        buttons[(index + (event.key === "ArrowRight" ? 1 : buttons.length - 1)) % buttons.length].focus();
      }
    });
    button.setAttribute("aria-expanded", "true");
    li.append(picker);
    document.addEventListener("pointerdown", outside, true);
    picker.querySelector("button").focus();
  },

  async toggleReaction(frame, emoji, mine) {
    const path = `/api/v1/groups/${this.groupId}/messages/${frame.seq}/reactions/${encodeURIComponent(emoji)}`;
    try {
      const reactions = mine ? await this.app.api.delete(path) : await this.app.api.put(path);
      this.store.setReactions(this.groupId, frame.seq, reactions);
    } catch (failure) {
      toast(`Reaction failed: ${describeError(failure)}`);
    }
  },

  /** Edits in place. Saving or cancelling returns focus where the edit began: the composer (after
   * Up arrow, so the next message typed is not lost) or the message's Edit button. */
  startEdit(frame, { fromComposer = false } = {}) {
    const li = this.items.get(frame.seq);
    const back = () => (fromComposer ? this.input.focus() : this.items.get(frame.seq)?.querySelector('[data-action="edit"]')?.focus());
    if (!li || li.querySelector(".edit-form")) return;
    const text = li.querySelector(".text");
    const field = h("textarea", { id: `edit-${frame.seq}`, rows: 2, value: frame.text });
    field.value = frame.text;
    const error = h("p", { class: "form-error", role: "alert" });
    const cancel = () => {
      const current = form.closest("li") || li;
      form.remove();
      const shown = current.querySelector(".text");
      if (shown) shown.hidden = false;
      back();
    };
    const form = h(
      "form",
      { class: "edit-form" },
      h("label", { for: `edit-${frame.seq}`, class: "sr-only", text: "Edit message" }),
      field,
      error,
      h("div", { class: "row" }, h("button", { type: "submit", class: "primary", text: "Save" }), h("button", { type: "button", text: "Cancel", on: { click: cancel } })),
    );
    field.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        cancel();
      } else if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = field.value;
      if (!value.trim()) {
        error.textContent = "A message cannot be empty. Delete it instead.";
        return;
      }
      if (tooLong(value)) {
        error.textContent = tooLong(value);
        return;
      }
      if (value === frame.text) return cancel();
      try {
        await this.app.editMessage(this.groupId, frame.seq, value);
        cancel(); // closes the box, shows the (new) text, returns focus
      } catch (failure) {
        error.textContent = describeError(failure);
      }
    });
    text.hidden = true;
    text.after(form);
    field.focus();
    field.setSelectionRange(field.value.length, field.value.length);
  },

  async deleteMessage(frame) {
    if (!(await confirmDialog("Delete this message for everyone?", { confirm: "Delete", danger: true }))) return;
    try {
      await this.app.api.delete(`/api/v1/groups/${this.groupId}/messages/${frame.seq}`);
      this.store.updateMessage(this.groupId, frame.seq, { deleted: true, text: "" });
      announce("Message deleted");
      this.input.focus();
    } catch (failure) {
      toast(`Could not delete: ${describeError(failure)}`);
    }
  },

  async showReaders(frame) {
    let readers;
    try {
      readers = await this.app.api.get(`/api/v1/groups/${this.groupId}/messages/${frame.seq}/readers`);
    } catch (failure) {
      toast(describeError(failure));
      return;
    }
    const close = h("button", { type: "submit", class: "primary", text: "Close" });
    const dialog = h(
      "dialog",
      { class: "readers", aria: { labelledby: "readers-title" } },
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "readers-title", text: "Seen by" }),
        readers.length
          ? h("ul", {}, readers.map((r) => h("li", { text: r.display_name || r.name })))
          : h("p", { class: "muted", text: "Nobody has read it yet." }),
        h("div", { class: "row end" }, close),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      this.items.get(frame.seq)?.querySelector('[data-action="readers"]')?.focus();
    });
    document.body.append(dialog);
    dialog.showModal();
    close.focus();
  },
};
