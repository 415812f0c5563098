// The Mentions view (/mentions): recent messages that mention me across my groups, newest first,
// a page at a time; each opens its group at that message.

import { describeError } from "../api.js";
import { formatTime, h, replaceChildren } from "../dom.js";
import { mentionNodes } from "../mentions.js";

const PAGE = 20;

export function mentionsView(app) {
  const heading = h("h1", { tabIndex: -1, text: "Mentions" });
  const list = h("ol", { class: "mention-results", aria: { label: "Messages that mention you" } });
  const status = h("p", { class: "hint", role: "status" });
  const more = h("button", { type: "button", class: "secondary", hidden: true, text: "Load more" });
  let offset = 0;

  const item = (frame) => {
    const group = app.store.groups.get(frame.group_id);
    const where = group ? app.store.displayName(group) : "A chat";
    const me = app.store.me?.id;
    const members = app.store.chats.get(frame.group_id)?.members;
    return h(
      "li",
      { class: "mention-result" },
      h(
        "a",
        { href: `/g/${frame.group_id}?seq=${frame.seq}`, data: { nav: "" } },
        h("span", { class: "mention-where" }, h("strong", { text: where }), " · ", frame.user_name || frame.user, " · ", h("time", { datetime: frame.created_at, text: formatTime(frame.created_at) })),
        h("span", { class: "text" }, mentionNodes(frame.text, frame.mentions, members, me)),
      ),
    );
  };

  const load = async () => {
    more.disabled = true;
    status.textContent = "Loading…";
    try {
      const page = await app.api.get("/api/v1/notifications/mentions", { limit: PAGE, offset });
      list.append(...page.items.map(item));
      offset = page.next_offset ?? offset + page.items.length;
      more.hidden = page.next_offset === null;
      status.textContent = list.children.length ? "" : "Nobody has mentioned you yet.";
    } catch (failure) {
      status.textContent = describeError(failure);
    } finally {
      more.disabled = false;
    }
  };
  more.addEventListener("click", load);
  const el = h("section", { class: "welcome mentions-view" }, heading, status, list, more);
  replaceChildren(list);
  load();
  return { el, heading };
}
