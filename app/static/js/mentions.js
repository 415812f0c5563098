// Mentions in the SPA: chips in message text, the composer's @-autocomplete, and the unread mention
// count per group. The server resolves who a message mentions (`frame.mentions`, user ids); this
// module only finds where in the text those people are named, the same way (longest member name,
// case-folded, ending at a word boundary), so a chip is never shown for someone not mentioned.

import { h } from "./dom.js";

const BROADCASTS = ["all", "here"];
const fold = (text) => text.normalize("NFC").toLocaleLowerCase();
const isWord = (char) => /[\p{L}\p{N}\p{M}_]/u.test(char);

function bounded(rest, name) {
  return rest.startsWith(name) && (rest.length === name.length || !isWord(rest[name.length]));
}

/** Members' names that may appear after an `@`, longest first: [{name (folded), ids}]. */
function nameTable(members) {
  const byName = new Map();
  for (const member of members || []) {
    for (const raw of [member.display_name, member.name]) {
      const name = raw && fold(raw.trim());
      if (!name) continue;
      if (!byName.has(name)) byName.set(name, new Set());
      byName.get(name).add(member.user_id);
    }
  }
  return [...byName.entries()].map(([name, ids]) => ({ name, ids })).sort((a, b) => b.name.length - a.name.length);
}

/**
 * The text as nodes, each mention of someone in `mentions` (and @all/@here when the message
 * mentions anyone) a chip; the chip that names `meId` (or everyone) also has the class `to-me`.
 * Falls back to plain text when nothing is mentioned or the text changes length when folded.
 */
export function mentionNodes(text, mentions, members, meId) {
  if (!mentions?.length || !text.includes("@")) return [text];
  const normalized = text.normalize("NFC");
  const folded = fold(normalized);
  if (folded.length !== normalized.length) return [text]; // indices would not line up
  const mentioned = new Set(mentions);
  const table = nameTable(members).filter((entry) => [...entry.ids].some((id) => mentioned.has(id)));
  const nodes = [];
  let from = 0;
  for (let at = folded.indexOf("@"); at !== -1; at = folded.indexOf("@", at + 1)) {
    if (at < from || (at > 0 && (isWord(folded[at - 1]) || folded[at - 1] === "@"))) continue;
    const rest = folded.slice(at + 1);
    const entry = table.find((e) => bounded(rest, e.name));
    const broadcast = !entry && BROADCASTS.find((word) => bounded(rest, word));
    if (!entry && !broadcast) continue;
    const length = 1 + (entry ? entry.name.length : broadcast.length);
    const me = broadcast ? mentioned.has(meId) : entry.ids.has(meId);
    if (at > from) nodes.push(normalized.slice(from, at));
    nodes.push(h("span", { class: ["mention", me && "to-me"], text: normalized.slice(at, at + length) }));
    from = at + length;
  }
  if (from < normalized.length) nodes.push(normalized.slice(from));
  return nodes;
}

// -- counts ----------------------------------------------------------------------------------------

/**
 * Unread messages that mention me: the server's count from the last group list while the read
 * position has not moved past it, plus those that arrived live since (less any deleted).
 */
export function mentionCount(store, group) {
  const lastRead = group.lastReadSeq || 0;
  const listed = group.mentionListedSeq || 0;
  const base = lastRead <= (group.last_read_seq || 0) ? group.mention_count || 0 : 0;
  const deleted = group.deletedSeqs || new Set();
  let live = 0;
  for (const seq of group.liveMentions || []) if (seq > lastRead && seq > listed && !deleted.has(seq)) live += 1;
  return base + live;
}

/** A message frame from the socket: remember it when it mentions me (not my own). */
export function noteLiveMention(store, frame) {
  const group = store.groups.get(frame.group_id);
  const me = store.me?.id;
  if (!group || frame.type !== "message" || frame.user_id === me || !frame.mentions?.includes(me)) return;
  group.liveMentions = new Set(group.liveMentions || []).add(frame.seq);
}

// -- composer autocomplete -------------------------------------------------------------------------

/**
 * `@` in the composer offers the group's members (by display name) and @all / @here; Up/Down pick,
 * Enter or Tab insert `@Name `, Escape closes. The list is an ARIA listbox owned by the textarea.
 */
export function attachMentionAutocomplete(input, getMembers, { meId } = {}) {
  const list = h("ul", { class: "mention-list", id: `${input.id}-mentions`, role: "listbox", hidden: true, aria: { label: "Mention someone" } });
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-autocomplete", "list");
  let options = [];
  let active = 0;
  let start = -1;

  const close = () => {
    list.hidden = true;
    options = [];
    input.removeAttribute("aria-activedescendant");
  };
  const choose = (index) => {
    const option = options[index];
    if (!option) return;
    const before = input.value.slice(0, start);
    const after = input.value.slice(input.selectionStart);
    const inserted = `@${option.label} `;
    input.value = before + inserted + after;
    const caret = before.length + inserted.length;
    input.setSelectionRange(caret, caret);
    close();
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.focus();
  };
  const render = () => {
    list.replaceChildren(
      ...options.map((option, index) =>
        h("li", {
          id: `${list.id}-${index}`,
          role: "option",
          class: index === active && "active",
          aria: { selected: String(index === active) },
          text: option.hint ? `@${option.label} — ${option.hint}` : `@${option.label}`,
          on: {
            mousedown: (event) => {
              event.preventDefault(); // keep the focus in the composer
              choose(index);
            },
          },
        }),
      ),
    );
    list.hidden = !options.length;
    if (options.length) input.setAttribute("aria-activedescendant", `${list.id}-${active}`);
  };
  const update = () => {
    const caret = input.selectionStart;
    const before = input.value.slice(0, caret);
    const at = before.lastIndexOf("@");
    const query = at === -1 ? null : before.slice(at + 1);
    if (query === null || /[\n@]/.test(query) || query.length > 40 || (at > 0 && isWord(before[at - 1]))) {
      close();
      return;
    }
    start = at;
    const wanted = fold(query);
    const people = (getMembers() || [])
      .filter((m) => m.user_id !== meId)
      .map((m) => ({ label: m.display_name || m.name, hint: m.display_name && m.display_name !== m.name ? m.name : "" }))
      .filter((o) => fold(o.label).startsWith(wanted) || fold(o.hint).startsWith(wanted) || (wanted.length > 1 && fold(o.label).includes(wanted)));
    const everyone = BROADCASTS.filter((word) => word.startsWith(wanted)).map((word) => ({ label: word, hint: word === "all" ? "everyone in the group" : "everyone here" }));
    options = [...people, ...everyone].slice(0, 8);
    active = 0;
    render();
  };
  input.addEventListener("input", update);
  input.addEventListener("blur", () => setTimeout(close, 150));
  input.addEventListener(
    "keydown",
    (event) => {
      if (list.hidden || !options.length) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        active = (active + (event.key === "ArrowDown" ? 1 : options.length - 1)) % options.length;
        render();
      } else if (event.key === "Enter" || event.key === "Tab") {
        choose(active);
      } else if (event.key === "Escape") {
        close();
      } else {
        return;
      }
      event.preventDefault();
      event.stopImmediatePropagation(); // the composer's Enter-sends and Up-edits must not see it
    },
    { capture: true },
  );
  return list;
}
