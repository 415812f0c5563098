// Scenarios for the client Store (app/static/js/state.js), run in Chromium by test_spa.py.
// An expression: an async function returning the observations the test asserts on.
async () => {
    const { Store } = await import("/static/js/state.js");
    const store = new Store();
    store.me = { id: 1 };
    const message = (seq, user_id = 2, extra = {}) => ({
        type: "message", id: `m${seq}`, seq, group_id: 7, text: `text ${seq}`, user: "x@example.com",
        user_id, user_name: "X", created_at: new Date().toISOString(), ...extra,
    });
    const results = {};
    store.setGroups([{ id: 7, name: "G", last_message: message(3), last_read_seq: 2, unread_count: 1 }]);
    results.unreadAtStart = store.unread(store.groups.get(7));
    results.firstResume = store.resumePoints();

    // The latest history page overlaps what the socket replays: each seq is kept once.
    store.addHistory(7, { items: [message(1), message(2), message(3)], has_more: false }, { older: false });
    results.live = [4, 4, 5, 3, 6].map((seq) => store.addLive(message(seq)));
    results.seqs = store.chat(7).sorted().map((f) => f.seq);
    results.unreadAfterLive = store.unread(store.groups.get(7));

    // A jump in the stream is reported, so the app fetches what is missing over HTTP.
    results.gap = store.addLive(message(9));
    results.resumeAfter = store.resumePoints();

    // An optimistic send is replaced by the real message carrying its client_msg_id.
    store.addPending(7, { client_msg_id: "c-1", text: "hi", status: "sending" });
    store.addLive(message(10, 1, { client_msg_id: "c-1" }));
    results.pendingLeft = store.chat(7).pending.size;
    results.unreadAfterOwn = store.unread(store.groups.get(7));

    // Reactions and read receipts.
    store.applyReaction({ group_id: 7, seq: 10, emoji: "🎉", user_id: 2, action: "add", count: 1 });
    store.applyReaction({ group_id: 7, seq: 10, emoji: "🎉", user_id: 1, action: "add", count: 2 });
    results.reactions = store.chat(7).messages.get(10).reactions;
    store.seen({ group_id: 7, user_id: 2, seq: 10 });
    results.reads = store.chat(7).reads.get(2);

    // A page read before a live edit and a live delete arrived (a reconnect's re-read) undoes neither.
    const stale = [message(5), message(6)];
    store.updateMessage(7, 5, { text: "edited 5", edited_at: "2026-12-04T21:22:01.5Z" });
    store.updateMessage(7, 6, { deleted: true, text: "" });
    store.addHistory(7, { items: stale, has_more: false }, { older: false });
    results.afterStalePage = [5, 6].map((seq) => {
        const { text, edited_at = null, deleted = false } = store.chat(7).messages.get(seq);
        return { text, edited_at, deleted };
    });
    // A newer edit from a page does replace the one on screen.
    store.addHistory(7, { items: [message(5, 2, { text: "edited again", edited_at: "2026-12-04T21:22:02Z" })], has_more: false }, { older: false });
    results.afterNewerPage = store.chat(7).messages.get(5).text;
    return results;
}
