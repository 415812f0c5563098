// Blocking: whom I blocked (kept in the store), a Block/Unblock button for a person, and the
// settings page's list. A blocked person can no longer start a direct chat with me or add me to a
// group; groups we share stay.

import { describeError } from "./api.js";
import { announce, confirmDialog, h, replaceChildren } from "./dom.js";

export async function loadBlocks(app) {
  app.store.setBlocks(await app.api.get("/api/v1/users/me/blocks"));
}

/** Block `user` ({id, name, display_name}) after asking; true when it is done. Errors go to `report`. */
export async function blockUser(app, user, report) {
  const name = user.display_name || user.name;
  const question = `Block ${name}? They will no longer be able to start a direct chat with you or add you to a group. Groups you share stay as they are.`;
  if (!(await confirmDialog(question, { confirm: "Block", danger: true }))) return false;
  try {
    await app.api.put(`/api/v1/users/me/blocks/${user.id}`);
    await loadBlocks(app);
    announce(`${name} is blocked`);
    return true;
  } catch (failure) {
    report(describeError(failure));
    return false;
  }
}

export async function unblockUser(app, user, report) {
  const name = user.display_name || user.name;
  try {
    await app.api.delete(`/api/v1/users/me/blocks/${user.id}`);
    await loadBlocks(app);
    announce(`${name} is unblocked`);
    return true;
  } catch (failure) {
    report(describeError(failure));
    return false;
  }
}

/** A button that blocks `user`, or unblocks them when they are blocked already. */
export function blockButton(app, user, report, { className = "link danger-text" } = {}) {
  const name = user.display_name || user.name;
  const blocked = app.store.blocked.has(user.id);
  return h("button", {
    type: "button",
    class: blocked ? className.replace("danger-text", "").trim() : className, // unblocking is no danger
    aria: { label: `${blocked ? "Unblock" : "Block"} ${name}` },
    text: blocked ? "Unblock" : "Block",
    on: { click: () => (blocked ? unblockUser(app, user, report) : blockUser(app, user, report)) },
  });
}

/** The settings page: the people I blocked, each with Unblock. */
export function settingsView(app) {
  const heading = h("h1", { tabIndex: -1, text: "Settings" });
  const list = h("ul", { class: "blocked-list", aria: { labelledby: "blocked-title" } });
  const error = h("p", { class: "form-error", role: "alert" });
  const render = () => {
    const entries = [...app.store.blocked.values()];
    replaceChildren(
      list,
      entries.length
        ? entries.map(({ user }) =>
            h(
              "li",
              { class: "member", data: { userId: String(user.id) } },
              h("span", { class: "member-name", text: user.display_name || user.name }),
              h("button", {
                type: "button",
                class: "secondary",
                aria: { label: `Unblock ${user.display_name || user.name}` },
                text: "Unblock",
                on: { click: () => unblockUser(app, user, (text) => (error.textContent = text)) },
              }),
            ),
          )
        : [h("li", { class: "empty", text: "You have not blocked anyone." })],
    );
  };
  const onChange = (event) => {
    if (event.detail.kind === "blocks") render();
  };
  app.store.addEventListener("change", onChange);
  render();
  loadBlocks(app).catch((failure) => (error.textContent = describeError(failure)));
  const el = h(
    "section",
    { class: "welcome settings" },
    heading,
    h("h2", { id: "blocked-title", text: "Blocked people" }),
    h("p", { class: "muted", text: "People you blocked cannot start a direct chat with you or add you to a group. Groups you already share stay." }),
    list,
    error,
    h("a", { href: "/", data: { nav: "" }, text: "Back to your chats" }),
  );
  return { el, heading, destroy: () => app.store.removeEventListener("change", onChange) };
}
