// The members panel: who is in the group and online; admins add by email, remove and change roles,
// rename and delete the group; anyone can leave (direct chats cannot be left).

import { describeError } from "../api.js";
import { blockButton } from "../blocks.js";
import { announce, confirmDialog, h, initials, promptDialog, replaceChildren } from "../dom.js";

export class MembersPanel {
  constructor(app, chatView) {
    this.app = app;
    this.store = app.store;
    this.chatView = chatView;
    this.groupId = chatView.groupId;
    this.heading = h("h2", { id: "members-title", tabIndex: -1, text: "Members" });
    this.list = h("ul", { class: "member-list", aria: { labelledby: "members-title" } });
    this.error = h("p", { class: "form-error", role: "alert" });
    this.addForm = this.#addForm();
    this.leaveButton = h("button", { type: "button", class: "danger", text: "Leave group", on: { click: () => this.leave() } });
    this.adminActions = h(
      "div",
      { class: "row group-admin" },
      h("button", { type: "button", class: "secondary", text: "Rename group", on: { click: () => this.rename() } }),
      h("button", { type: "button", class: "danger", text: "Delete group", on: { click: () => this.deleteGroup() } }),
    );
    this.closeButton = h("button", { type: "button", class: "icon", aria: { label: "Close members" }, text: "×", on: { click: () => this.toggle(false) } });
    this.el = h(
      "aside",
      { class: "members-panel", id: "members-panel", hidden: true, aria: { labelledby: "members-title" } },
      h("div", { class: "panel-header" }, this.heading, this.closeButton),
      this.list,
      this.addForm,
      this.error,
      this.adminActions,
      this.leaveButton,
    );
    this.el.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.toggle(false);
    });
    this.onChange = (event) => {
      const { kind, groupId } = event.detail;
      if (groupId === this.groupId && (kind === "members" || kind === "presence")) this.render();
      if (kind === "groups" || kind === "blocks") this.render();
    };
    this.store.addEventListener("change", this.onChange);
    this.render();
  }

  get group() {
    return this.store.groups.get(this.groupId);
  }

  toggle(open = this.el.hidden) {
    this.el.hidden = !open;
    this.chatView.membersButton.setAttribute("aria-expanded", String(open));
    this.chatView.el.classList.toggle("with-members", open);
    if (open) {
      this.load();
      this.heading.focus();
    } else {
      this.chatView.membersButton.focus();
    }
  }

  async load() {
    try {
      await this.app.reloadMembers(this.groupId, { quiet: false });
    } catch (failure) {
      this.error.textContent = describeError(failure);
    }
  }

  #addForm() {
    const input = h("input", { id: "add-member-email", type: "email", name: "email", autocomplete: "off", required: true, placeholder: "name@example.com" });
    const form = h(
      "form",
      { class: "add-member", aria: { label: "Add a member" } },
      h("label", { for: "add-member-email", text: "Add by email" }),
      h("div", { class: "row" }, input, h("button", { type: "submit", class: "primary", text: "Add" })),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const email = input.value.trim();
      if (!email.includes("@")) {
        this.error.textContent = "Enter the email address of the person to add.";
        input.focus();
        return;
      }
      this.error.textContent = "";
      try {
        const member = await this.app.api.post(`/api/v1/groups/${this.groupId}/members`, { email });
        input.value = "";
        announce(`${member.display_name || member.name} was added`);
        await this.load();
        input.focus();
      } catch (failure) {
        // 404: nobody has that address, or its owner cannot be added by you; the server does not say which.
        this.error.textContent = failure?.status === 404 ? `Nobody with the address ${email} can be added. Check it and try again.` : describeError(failure);
        input.focus();
      }
    });
    return form;
  }

  render() {
    const group = this.group;
    const chat = this.store.chats.get(this.groupId);
    if (!group || !chat) return;
    const me = this.store.me?.id;
    const admin = group.role === "admin" && !group.is_direct;
    this.addForm.hidden = !admin;
    this.adminActions.hidden = !admin;
    this.leaveButton.hidden = group.is_direct;
    const members = [...(chat.members || [])].sort((a, b) => {
      const online = Number(chat.online.has(b.user_id)) - Number(chat.online.has(a.user_id));
      return online || (a.display_name || a.name).localeCompare(b.display_name || b.name);
    });
    this.heading.textContent = chat.members ? `Members (${members.length})` : "Members";
    replaceChildren(
      this.list,
      members.map((member) => {
        const name = member.display_name || member.name;
        const online = chat.online.has(member.user_id);
        const self = member.user_id === me;
        const controls = [];
        if (admin && !self) {
          const select = h(
            "select",
            { aria: { label: `Role of ${name}` }, on: { change: (event) => this.changeRole(member, event.target) } },
            h("option", { value: "member", text: "Member", selected: member.role === "member" }),
            h("option", { value: "admin", text: "Admin", selected: member.role === "admin" }),
          );
          controls.push(select, h("button", { type: "button", class: "link danger-text", aria: { label: `Remove ${name}` }, text: "Remove", on: { click: () => this.remove(member) } }));
        } else if (!group.is_direct) {
          controls.push(h("span", { class: "role", text: member.role === "admin" ? "Admin" : "Member" }));
        }
        if (!self) {
          const person = { id: member.user_id, name: member.name, display_name: member.display_name };
          controls.push(blockButton(this.app, person, (text) => (this.error.textContent = text)));
        }
        return h(
          "li",
          { class: ["member", online && "online"], data: { userId: String(member.user_id) } },
          h("span", { class: "avatar", aria: { hidden: "true" }, text: initials(name) }, h("span", { class: "dot" })),
          h("span", { class: "member-name" }, h("span", { text: self ? `${name} (you)` : name }), h("span", { class: "muted presence", text: online ? "Online" : "Offline" })),
          h("span", { class: "member-controls" }, controls),
        );
      }),
    );
  }

  async changeRole(member, select) {
    this.error.textContent = "";
    try {
      const updated = await this.app.api.patch(`/api/v1/groups/${this.groupId}/members/${member.user_id}`, { role: select.value });
      announce(`${updated.display_name || updated.name} is now ${updated.role === "admin" ? "an admin" : "a member"}`);
      await this.load();
    } catch (failure) {
      this.error.textContent = describeError(failure);
      select.value = member.role;
    }
  }

  async remove(member) {
    const name = member.display_name || member.name;
    if (!(await confirmDialog(`Remove ${name} from ${this.group.name}?`, { confirm: "Remove", danger: true }))) return;
    this.error.textContent = "";
    try {
      await this.app.api.delete(`/api/v1/groups/${this.groupId}/members/${member.user_id}`);
      announce(`${name} was removed`);
      await this.load();
      this.heading.focus();
    } catch (failure) {
      this.error.textContent = describeError(failure);
    }
  }

  async rename() {
    const group = this.group;
    const name = await promptDialog(`Rename ${group.name}`, { label: "New group name", value: group.name, confirm: "Rename", maxLength: 100 });
    if (!name || name === group.name) return;
    this.error.textContent = "";
    try {
      const updated = await this.app.api.patch(`/api/v1/groups/${this.groupId}`, { name });
      this.store.upsertGroup({ ...this.group, name: updated.name, description: updated.description });
      announce(`The group is now called ${updated.name}`);
    } catch (failure) {
      this.error.textContent = describeError(failure);
    }
  }

  async deleteGroup() {
    const group = this.group;
    const question = `Delete ${group.name} for everyone? Its messages, videos and attachments are deleted too; this cannot be undone.`;
    if (!(await confirmDialog(question, { confirm: "Delete group", danger: true }))) return;
    this.error.textContent = "";
    try {
      await this.app.api.delete(`/api/v1/groups/${this.groupId}`);
      this.store.removeGroup(this.groupId, `${group.name} was deleted.`);
    } catch (failure) {
      this.error.textContent = describeError(failure);
    }
  }

  async leave() {
    const group = this.group;
    if (!(await confirmDialog(`Leave ${group.name}? You will stop receiving its messages.`, { confirm: "Leave", danger: true }))) return;
    this.store.leaving.add(this.groupId);
    try {
      await this.app.api.post(`/api/v1/groups/${this.groupId}/leave`);
      this.store.removeGroup(this.groupId, `You left ${group.name}.`);
    } catch (failure) {
      this.error.textContent = describeError(failure);
    } finally {
      this.store.leaving.delete(this.groupId);
    }
  }

  destroy() {
    this.store.removeEventListener("change", this.onChange);
  }
}
