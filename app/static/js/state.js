// Client state: groups, per-group chats (messages keyed by seq, so replays and overlapping history
// pages can never duplicate), pending sends, presence, typing, read positions and playback.
// Views listen for "change" events ({kind, groupId, ...}) and update only what changed.

export const SEQUENCED = new Set(["message", "add", "leave", "video_control"]);
export const TYPING_SHOWN_MS = 5_000;

export class Chat {
  constructor(groupId) {
    this.groupId = groupId;
    this.messages = new Map(); // seq -> frame
    this.streamSeq = 0; // the highest seq the socket has delivered (in order, gap-free)
    this.hasMore = true; // older history exists on the server
    this.historyLoaded = false;
    this.pending = new Map(); // client_msg_id -> {client_msg_id, text, reply_to, status, error, seq}
    this.typing = new Map(); // user id -> {name, until}
    this.online = new Set();
    this.members = null; // [{user_id, name, display_name, role, email, last_read_seq}]
    this.reads = new Map(); // user id -> last read seq
  }

  get oldestSeq() {
    let oldest = Infinity;
    for (const seq of this.messages.keys()) if (seq < oldest) oldest = seq;
    return oldest === Infinity ? null : oldest;
  }

  get newestSeq() {
    let newest = 0;
    for (const seq of this.messages.keys()) if (seq > newest) newest = seq;
    return newest;
  }

  sorted() {
    return [...this.messages.values()].sort((a, b) => a.seq - b.seq);
  }

  memberName(userId) {
    const member = this.members?.find((m) => m.user_id === userId);
    return member ? member.display_name || member.name : null;
  }
}

export class Store extends EventTarget {
  constructor() {
    super();
    this.me = null;
    this.groups = new Map();
    this.chats = new Map();
    this.playback = new Map(); // group id -> playback_state
    this.watching = new Map(); // group id -> user ids with the player open
    this.blocked = new Map(); // user id -> {user, blocked_at}: whom I blocked
    this.leaving = new Set(); // group ids this user asked to leave: their own `leave` may come first
    this.openGroupId = null;
  }

  reset() {
    this.me = null;
    this.groups.clear();
    this.chats.clear();
    this.playback.clear();
    this.watching.clear();
    this.blocked.clear();
    this.leaving.clear();
    this.openGroupId = null;
  }

  emit(kind, detail = {}) {
    this.dispatchEvent(new CustomEvent("change", { detail: { kind, ...detail } }));
  }

  chat(groupId) {
    let chat = this.chats.get(groupId);
    if (!chat) {
      chat = new Chat(groupId);
      this.chats.set(groupId, chat);
    }
    return chat;
  }

  // -- blocks --------------------------------------------------------------------------------------

  setBlocks(list) {
    this.blocked = new Map(list.map((entry) => [entry.user.id, entry]));
    this.emit("blocks");
  }

  // -- groups --------------------------------------------------------------------------------------

  setGroups(list) {
    const seen = new Set();
    for (const group of list) {
      seen.add(group.id);
      this.upsertGroup(group, { quiet: true });
    }
    for (const id of [...this.groups.keys()]) if (!seen.has(id)) this.groups.delete(id);
    this.emit("groups");
  }

  upsertGroup(group, { quiet = false } = {}) {
    const known = this.groups.get(group.id);
    const latest = Math.max(group.last_message?.seq || 0, known?.latestSeq || 0);
    const lastRead = Math.max(group.last_read_seq || 0, known?.lastReadSeq || 0);
    let lastMessage = group.last_message || null;
    if (known?.last_message && (!lastMessage || known.last_message.seq > lastMessage.seq)) lastMessage = known.last_message;
    const merged = { ...known, ...group, last_message: lastMessage, latestSeq: latest, lastReadSeq: lastRead };
    if (group.unread_count !== undefined) {
      // The server's count leaves out messages deleted before they were read; keep that difference.
      merged.deletedUnread = Math.max(0, (group.last_message?.seq || 0) - (group.last_read_seq || 0) - group.unread_count);
      merged.deletedSeqs = new Set([...(known?.deletedSeqs || [])].filter((seq) => seq > (group.last_message?.seq || 0)));
      merged.mentionListedSeq = group.last_message?.seq || 0; // mentions.js: the server counted up to here
    }
    this.groups.set(group.id, merged);
    if (!quiet) this.emit("groups");
    return merged;
  }

  removeGroup(groupId, reason) {
    const group = this.groups.get(groupId);
    if (!group) return;
    this.groups.delete(groupId);
    this.chats.delete(groupId);
    this.playback.delete(groupId);
    this.emit("group-removed", { groupId, group, reason });
    this.emit("groups");
  }

  /** Messages after the read position, less those deleted before they were read: the server's
   * count at the last list (`deletedUnread`) and the deletes seen live since (`deletedSeqs`). */
  unread(group) {
    const lastRead = group.lastReadSeq || 0;
    const latest = group.latestSeq || 0;
    if (latest <= lastRead) return 0;
    const liveDeleted = [...(group.deletedSeqs || [])].filter((seq) => seq > lastRead).length;
    return Math.max(0, latest - lastRead - (group.deletedUnread || 0) - liveDeleted);
  }

  displayName(group) {
    if (group.is_direct && group.peer) return group.peer.display_name || group.peer.name;
    return group.name;
  }

  /** The last seq per group, for the socket's resume frame: nothing missed, nothing repeated. */
  resumePoints() {
    const points = {};
    for (const [id, group] of this.groups) {
      const chat = this.chat(id);
      // What the socket delivered; for a group it never delivered anything of, the list's newest.
      if (chat.streamSeq === 0) chat.streamSeq = group.last_message?.seq || 0;
      points[id] = chat.streamSeq;
    }
    return points;
  }

  markRead(groupId, seq) {
    const group = this.groups.get(groupId);
    if (!group || seq <= (group.lastReadSeq || 0)) return false;
    group.lastReadSeq = seq;
    if (seq >= (group.latestSeq || 0)) group.deletedUnread = 0; // all read: no deleted one is left above
    this.emit("unread", { groupId });
    return true;
  }

  // -- messages ------------------------------------------------------------------------------------

  /** History from HTTP: merged by seq (a page may overlap what the socket delivered). */
  addHistory(groupId, page, { older }) {
    const chat = this.chat(groupId);
    for (const frame of page.items) chat.messages.set(frame.seq, newestOf(chat.messages.get(frame.seq), frame));
    if (older || !chat.historyLoaded) chat.hasMore = page.has_more;
    chat.historyLoaded = true;
    const group = this.groups.get(groupId);
    const newest = page.items.at(-1);
    if (group && newest && newest.seq > (group.latestSeq || 0)) {
      group.latestSeq = newest.seq;
      group.last_message = newest;
    }
    this.emit("history", { groupId, older });
  }

  /**
   * A sequenced frame from the socket. Returns "new", "duplicate" or "gap" (a gap means frames are
   * missing before this one; the caller fetches them over HTTP).
   */
  addLive(frame, { fromStream = true } = {}) {
    const chat = this.chat(frame.group_id);
    const group = this.groups.get(frame.group_id);
    const mine = frame.user_id === this.me?.id && frame.user !== "system";
    if (chat.messages.has(frame.seq) || (fromStream && frame.seq <= chat.streamSeq)) {
      // Already here (history page, REST send, or a replay): the seq makes it a duplicate.
      if (frame.client_msg_id && chat.pending.delete(frame.client_msg_id)) this.emit("pending", { groupId: frame.group_id });
      if (fromStream) chat.streamSeq = Math.max(chat.streamSeq, frame.seq);
      return "duplicate";
    }
    const gap = fromStream && chat.streamSeq > 0 && frame.seq > chat.streamSeq + 1;
    if (fromStream) chat.streamSeq = Math.max(chat.streamSeq, frame.seq);
    chat.messages.set(frame.seq, frame);
    if (frame.client_msg_id && mine) chat.pending.delete(frame.client_msg_id);
    if (frame.type === "message" && frame.user_id) chat.typing.delete(frame.user_id);
    if (group) {
      if (frame.seq > (group.latestSeq || 0)) group.latestSeq = frame.seq;
      if (!group.last_message || frame.seq > group.last_message.seq) group.last_message = frame;
      if (mine) group.lastReadSeq = Math.max(group.lastReadSeq || 0, frame.seq); // the server does the same
    }
    if (mine && frame.user_id) chat.reads.set(frame.user_id, Math.max(chat.reads.get(frame.user_id) || 0, frame.seq));
    this.emit("message", { groupId: frame.group_id, frame, mine });
    return gap ? "gap" : "new";
  }

  resetChat(groupId, latestSeq) {
    const chat = this.chat(groupId);
    chat.messages.clear();
    chat.historyLoaded = false;
    chat.hasMore = true;
    chat.streamSeq = latestSeq;
    this.emit("reset", { groupId });
  }

  updateMessage(groupId, seq, change) {
    const chat = this.chats.get(groupId);
    const frame = chat?.messages.get(seq);
    if (!frame) return;
    Object.assign(frame, change);
    const group = this.groups.get(groupId);
    if (group?.last_message?.seq === seq) Object.assign(group.last_message, change);
    this.emit("message-changed", { groupId, frame });
  }

  /** A message deleted (a live frame): shown as deleted, and no longer counted as unread. */
  deleteMessage(groupId, seq) {
    const group = this.groups.get(groupId);
    const frame = this.chats.get(groupId)?.messages.get(seq);
    if (group && !frame?.deleted && seq > (group.lastReadSeq || 0)) {
      group.deletedSeqs = new Set(group.deletedSeqs || []).add(seq);
      this.emit("unread", { groupId });
    }
    this.updateMessage(groupId, seq, { deleted: true, text: "" });
  }

  applyReaction(event) {
    const frame = this.chats.get(event.group_id)?.messages.get(event.seq);
    if (!frame) return;
    const reactions = (frame.reactions || []).map((r) => ({ ...r }));
    let entry = reactions.find((r) => r.emoji === event.emoji);
    if (!entry) {
      entry = { emoji: event.emoji, count: 0, me: false };
      reactions.push(entry);
    }
    entry.count = event.count;
    if (event.user_id === this.me?.id) entry.me = event.action === "add";
    this.updateMessage(event.group_id, event.seq, { reactions: reactions.filter((r) => r.count > 0) });
  }

  setReactions(groupId, seq, reactions) {
    this.updateMessage(groupId, seq, { reactions });
  }

  // -- pending sends -------------------------------------------------------------------------------

  addPending(groupId, entry) {
    this.chat(groupId).pending.set(entry.client_msg_id, entry);
    this.emit("pending", { groupId });
  }

  updatePending(groupId, clientMsgId, change) {
    const entry = this.chats.get(groupId)?.pending.get(clientMsgId);
    if (!entry) return;
    Object.assign(entry, change);
    this.emit("pending", { groupId });
  }

  removePending(groupId, clientMsgId) {
    if (this.chats.get(groupId)?.pending.delete(clientMsgId)) this.emit("pending", { groupId });
  }

  findPending(clientMsgId) {
    for (const chat of this.chats.values()) {
      const entry = chat.pending.get(clientMsgId);
      if (entry) return { chat, entry };
    }
    return null;
  }

  // -- presence, typing, receipts -----------------------------------------------------------------

  setOnline(groupId, userIds) {
    this.chat(groupId).online = new Set(userIds);
    this.emit("presence", { groupId });
  }

  presence(event) {
    const chat = this.chat(event.group_id);
    if (event.status === "online") chat.online.add(event.user_id);
    else chat.online.delete(event.user_id);
    this.emit("presence", { groupId: event.group_id });
    if (event.status !== "online" && chat.typing.delete(event.user_id)) this.emit("typing", { groupId: event.group_id });
  }

  typing(event) {
    if (event.user_id === this.me?.id) return;
    const chat = this.chat(event.group_id);
    if (event.active === false) {
      if (chat.typing.delete(event.user_id)) this.emit("typing", { groupId: event.group_id });
      return;
    }
    chat.typing.set(event.user_id, { name: event.user_name, until: Date.now() + TYPING_SHOWN_MS });
    this.emit("typing", { groupId: event.group_id });
    setTimeout(() => this.emit("typing", { groupId: event.group_id }), TYPING_SHOWN_MS + 50);
  }

  typingNames(groupId) {
    const chat = this.chats.get(groupId);
    if (!chat) return [];
    const now = Date.now();
    const names = [];
    for (const [userId, entry] of chat.typing) {
      if (entry.until > now) names.push(entry.name);
      else chat.typing.delete(userId);
    }
    return names;
  }

  seen(event) {
    if (event.user_id === this.me?.id) {
      this.markRead(event.group_id, event.seq);
      return;
    }
    const chat = this.chat(event.group_id);
    chat.reads.set(event.user_id, Math.max(chat.reads.get(event.user_id) || 0, event.seq));
    this.emit("receipts", { groupId: event.group_id });
  }

  setMembers(groupId, members) {
    const chat = this.chat(groupId);
    chat.members = members;
    for (const member of members) {
      chat.reads.set(member.user_id, Math.max(chat.reads.get(member.user_id) || 0, member.last_read_seq || 0));
    }
    const me = members.find((m) => m.user_id === this.me?.id);
    const group = this.groups.get(groupId);
    if (group) group.member_count = members.length;
    if (me && group && group.role !== me.role) group.role = me.role;
    this.emit("members", { groupId });
  }

  /** Who has the group's player open (a `watching` frame, or the answer to our own PUT/GET). */
  setWatching(groupId, userIds) {
    this.watching.set(groupId, [...userIds]);
    this.emit("watching", { groupId });
  }

  setPlayback(state) {
    this.playback.set(state.group_id, state);
    this.emit("playback", { groupId: state.group_id, state });
  }
}

/**
 * A history row merged over what is already on screen. The page may have been read before an edit
 * or a delete the socket has since delivered (a reconnect's re-read races the edits it retransmits),
 * so it never undoes one: edits are ordered by `edited_at`, a delete is final, and an edit waiting
 * for the connection stays on screen until it is saved.
 */
function newestOf(known, row) {
  if (!known) return row;
  const merged = { ...known, ...row };
  if (known.editPending) merged.text = known.text;
  else if (known.edited_at && !(Date.parse(row.edited_at) >= Date.parse(known.edited_at))) Object.assign(merged, { text: known.text, edited_at: known.edited_at });
  if (known.deleted) Object.assign(merged, { deleted: true, text: "" });
  return merged;
}
