// The group list (unread badges, last message), creating a group, and direct chats via user search.

import { describeError } from "../api.js";
import { debounce, formatTime, h, initials, replaceChildren } from "../dom.js";
import { mentionCount } from "../mentions.js";

/** A person's name from what this client knows: members, messages, the direct chat's peer. */
function nameOf(store, groupId, userId) {
  const chat = store.chats.get(groupId);
  const member = chat?.memberName(userId);
  if (member) return member;
  for (const frame of chat?.messages.values() || []) if (frame.user_id === userId && frame.user_name) return frame.user_name;
  const group = store.groups.get(groupId);
  if (group?.peer?.id === userId) return group.peer.display_name || group.peer.name;
  return null;
}

function preview(store, frame, needNames) {
  if (!frame) return "No messages yet";
  if (frame.type === "message") {
    if (frame.deleted) return "Message deleted";
    const who = frame.user_id === store.me?.id ? "You" : frame.user_name || frame.user;
    const files = (frame.attachments || []).map((a) => a.name);
    return `${who}: ${frame.text || (files.length ? `📎 ${files.join(", ")}` : "")}`;
  }
  if (frame.type === "video_control") {
    const verb = { play: "played", pause: "paused", seek: "moved", rate: "changed the speed of" }[frame.video_action] || frame.video_action;
    let who = frame.user_id === store.me?.id ? "You" : nameOf(store, frame.group_id, frame.user_id);
    if (!who) {
      needNames(frame.group_id); // the frame names its sender by email only: load the members once
      who = "Someone";
    }
    return `${who} ${verb} ${frame.video_name || "the video"}`;
  }
  return frame.text;
}

export class Sidebar {
  constructor(app) {
    this.app = app;
    this.list = h("ul", { class: "group-list", aria: { label: "Your groups and chats" } });
    this.createPanel = this.#createGroupForm();
    this.directPanel = this.#directChatForm();
    this.newGroupButton = h("button", {
      type: "button",
      class: "secondary",
      aria: { expanded: "false", controls: "new-group" },
      text: "New group",
      on: { click: () => this.toggle(this.createPanel, this.newGroupButton) },
    });
    this.directButton = h("button", {
      type: "button",
      class: "secondary",
      aria: { expanded: "false", controls: "new-direct" },
      text: "Direct chat",
      on: { click: () => this.toggle(this.directPanel, this.directButton) },
    });
    this.el = h(
      "nav",
      { class: "sidebar", id: "sidebar", aria: { label: "Groups" } },
      h("div", { class: "sidebar-actions" }, this.newGroupButton, this.directButton),
      this.createPanel,
      this.directPanel,
      h("h2", { class: "sidebar-title", id: "groups-heading", text: "Chats" }),
      this.list,
    );
    this.list.setAttribute("aria-labelledby", "groups-heading");
  }

  toggle(panel, button) {
    const opening = panel.hidden;
    for (const [p, b] of [
      [this.createPanel, this.newGroupButton],
      [this.directPanel, this.directButton],
    ]) {
      p.hidden = true;
      b.setAttribute("aria-expanded", "false");
    }
    if (opening) {
      panel.hidden = false;
      button.setAttribute("aria-expanded", "true");
      panel.querySelector("input")?.focus();
    } else {
      button.focus();
    }
  }

  #closePanel(panel, button) {
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
  }

  #createGroupForm() {
    const error = h("p", { class: "form-error", role: "alert" });
    const form = h(
      "form",
      { class: "panel", id: "new-group", hidden: true, aria: { label: "Create a group" } },
      h("div", { class: "field" }, h("label", { for: "new-group-name", text: "Group name" }), h("input", { id: "new-group-name", name: "name", required: true, maxLength: 100, autocomplete: "off" })),
      h("div", { class: "field" }, h("label", { for: "new-group-description", text: "Description (optional)" }), h("input", { id: "new-group-description", name: "description", maxLength: 500, autocomplete: "off" })),
      error,
      h("div", { class: "row" }, h("button", { type: "submit", class: "primary", text: "Create group" }), h("button", { type: "button", text: "Cancel", on: { click: () => this.toggle(this.createPanel, this.newGroupButton) } })),
    );
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.toggle(this.createPanel, this.newGroupButton);
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = form.elements.name.value.trim();
      const description = form.elements.description.value.trim();
      if (!name) {
        error.textContent = "Give the group a name.";
        form.elements.name.focus();
        return;
      }
      error.textContent = "";
      try {
        const group = await this.app.api.post("/api/v1/groups", { name, description: description || null });
        form.reset();
        this.#closePanel(this.createPanel, this.newGroupButton);
        this.app.groupAdded(group);
        this.app.navigate(`/g/${group.id}`);
      } catch (failure) {
        error.textContent = describeError(failure);
      }
    });
    return form;
  }

  #directChatForm() {
    const results = h("ul", { class: "search-results", id: "user-results", aria: { label: "People" } });
    const status = h("p", { class: "hint", role: "status" });
    const input = h("input", {
      id: "user-search",
      type: "search",
      autocomplete: "off",
      placeholder: "Name or email",
      aria: { controls: "user-results", describedby: "user-search-hint" },
    });
    const search = debounce(async () => {
      const q = input.value.trim();
      if (q.length < 2) {
        replaceChildren(results);
        status.textContent = q ? "Type at least 2 characters." : "";
        return;
      }
      try {
        const page = await this.app.api.get("/api/v1/users", { q, limit: 10 });
        if (input.value.trim() !== q) return; // a newer search is on its way
        const people = page.items.filter((u) => u.id !== this.app.store.me?.id);
        status.textContent = people.length ? `${people.length} found` : "Nobody found.";
        replaceChildren(
          results,
          people.map((user) =>
            h(
              "li",
              {},
              h(
                "button",
                { type: "button", class: "person", on: { click: () => this.#openDirect(user, status) } },
                h("span", { class: "avatar", aria: { hidden: "true" }, text: initials(user.display_name || user.name) }),
                h("span", { class: "person-name", text: user.display_name || user.name }),
                user.status_message ? h("span", { class: "muted", text: user.status_message }) : null,
              ),
            ),
          ),
        );
      } catch (failure) {
        status.textContent = describeError(failure);
      }
    }, 250);
    input.addEventListener("input", search);
    const form = h(
      "form",
      { class: "panel", id: "new-direct", hidden: true, role: "search", aria: { label: "Start a direct chat" } },
      h("div", { class: "field" }, h("label", { for: "user-search", text: "Find a person" }), input),
      h("p", { class: "hint", id: "user-search-hint", text: "Search by name, or by full email address." }),
      status,
      results,
    );
    form.addEventListener("submit", (event) => event.preventDefault());
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.toggle(this.directPanel, this.directButton);
    });
    return form;
  }

  async #openDirect(user, status) {
    try {
      const group = await this.app.api.post("/api/v1/direct", { user_id: user.id });
      this.#closePanel(this.directPanel, this.directButton);
      this.app.groupAdded(group);
      this.app.navigate(`/g/${group.id}`);
    } catch (failure) {
      // 404: the account is gone, or its owner does not take direct chats from you (not told apart).
      status.textContent = failure?.status === 404 ? `You cannot start a direct chat with ${user.display_name || user.name}.` : describeError(failure);
    }
  }

  /** Members of a group whose preview needs a name the client does not know yet (once per group). */
  async loadNames(groupId) {
    this.namesAsked ??= new Set();
    if (this.namesAsked.has(groupId)) return;
    this.namesAsked.add(groupId);
    await this.app.reloadMembers(groupId);
    this.render();
  }

  render() {
    const store = this.app.store;
    const activity = (group) => Date.parse(group.last_message?.created_at || group.created_at) || 0;
    const groups = [...store.groups.values()].sort((a, b) => activity(b) - activity(a));
    const unreadTotal = groups.reduce((sum, group) => sum + store.unread(group), 0);
    // "(3) Movie night · Huddle": the tab says there is something new while you are elsewhere.
    document.title = `${unreadTotal ? `(${unreadTotal}) ` : ""}${document.title.replace(/^\(\d+\) /, "")}`;
    if (!groups.length) {
      replaceChildren(this.list, h("li", { class: "empty", text: "No chats yet. Create a group or start a direct chat." }));
      return;
    }
    const focused = document.activeElement?.closest?.(".group-link")?.dataset.groupId;
    replaceChildren(
      this.list,
      groups.map((group) => {
        const unread = store.unread(group);
        const mentioned = unread ? mentionCount(store, group) : 0;
        const name = store.displayName(group);
        const current = store.openGroupId === group.id;
        const last = group.last_message;
        const link = h(
          "a",
          {
            href: `/g/${group.id}`,
            class: ["group-link", unread && "has-unread"],
            data: { nav: "", groupId: String(group.id) },
            aria: { current: current ? "page" : undefined },
          },
          h("span", { class: ["avatar", group.is_direct && "round"], aria: { hidden: "true" }, text: initials(name) }),
          h(
            "span",
            { class: "group-text" },
            h("span", { class: "group-name" }, h("span", { class: "name", text: name }), last ? h("time", { datetime: last.created_at, text: formatTime(last.created_at) }) : null),
            h("span", { class: "preview", text: preview(store, last, (groupId) => this.loadNames(groupId)) }),
          ),
          mentioned ? h("span", { class: "badge mention-badge", text: `@${mentioned > 99 ? "99+" : mentioned}`, aria: { label: `${mentioned} mention${mentioned === 1 ? "" : "s"} of you` } }) : null,
          unread ? h("span", { class: "badge", text: unread > 99 ? "99+" : String(unread), aria: { label: `${unread} unread` } }) : null,
        );
        return h("li", {}, link);
      }),
    );
    if (focused) this.list.querySelector(`[data-group-id="${focused}"]`)?.focus();
  }
}
