// Scenarios for the SSE transport (app/static/js/realtime.js), run in Chromium by test_spa.py against
// a routed GET /api/v1/events: the event-stream format fed a character at a time, the transport a
// tab chooses, resume by Last-Event-ID after the server's `event: close`, and the HTTP actions sent
// one at a time in order, with the socket's `ack` and `error` frames made from their answers.
async () => {
    const { ApiError } = await import("/static/js/api.js");
    const { EventParser, StreamRealtime, chosenTransport } = await import("/static/js/realtime.js");
    const results = {};
    const until = async (holds) => {
        for (let i = 0; i < 400 && !holds(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
        if (!holds()) throw new Error("scenario timed out");
    };

    const parser = new EventParser();
    const text = 'retry: 1500\n\nevent: message\ndata: {"seq":1}\n\n: keep-alive\n\nid: 7:1\n\nevent: close\r\ndata: {"code":1012}\r\n\r\n';
    results.parsed = [...text].flatMap((character) => parser.push(character));

    sessionStorage.clear();
    history.replaceState({}, "", "/?transport=sse");
    results.asked = chosenTransport();
    history.replaceState({}, "", "/");
    results.remembered = chosenTransport();
    history.replaceState({}, "", "/?transport=");
    results.forgotten = chosenTransport();
    const meta = Object.assign(document.createElement("meta"), { name: "huddle-transport", content: "sse" });
    document.head.append(meta);
    results.advertised = chosenTransport();
    meta.remove();

    const posted = [];
    const api = {
        session: { accessToken: async () => "tok", refresh: async () => {} },
        request: async (method, path, { body, signal } = {}) => {
            if (path === "/api/v1/time") return { server_time: performance.timeOrigin + performance.now() + 5000 };
            posted.push([method, path, body ?? null]);
            if (body?.text === "never answered") {
                return new Promise((_, reject) => signal.addEventListener("abort", () => reject(new DOMException("gone", "AbortError"))));
            }
            await new Promise((resolve) => setTimeout(resolve, 20)); // each answer takes a while
            if (body?.text === "refused") throw new ApiError(409, "conflict", "That client_msg_id was used for another text");
            return path.endsWith("/messages") ? { id: `m${posted.length}`, seq: 40 + posted.length } : null;
        },
    };
    const realtime = new StreamRealtime(api, () => ({ 7: 0, 8: 4, 9: 5 }));
    const frames = [];
    const statuses = [];
    const lost = [];
    realtime.addEventListener("frame", (event) => frames.push(event.detail));
    realtime.addEventListener("status", (event) => statuses.push(event.detail.status));
    realtime.addEventListener("disconnected", (event) => lost.push(event.detail.code));
    realtime.start();
    await until(() => statuses.filter((status) => status === "online").length === 2 && lost.length === 2);
    realtime.stop();
    results.frames = frames.map((frame) => [frame.type, frame.seq ?? null]);
    results.cursor = realtime.cursor;
    results.lost = [...lost];
    results.statuses = statuses.slice(0, 5);

    // Online (as after `ready`): the socket frames the app sends become HTTP actions, in order.
    frames.length = 0;
    realtime.stopped = false;
    realtime.stream = new AbortController();
    realtime.status = "online";
    results.taken = [
        realtime.send({ type: "typing", group_id: 7 }),
        realtime.send({ type: "message", group_id: 7, text: "one", client_msg_id: "c1" }),
        realtime.send({ type: "video_control", group_id: 7, video_action: "play", video_time: 3, video_name: "a.mp4", rate: 1 }),
        realtime.send({ type: "message", group_id: 7, text: "refused", client_msg_id: "c2", reply_to: 41 }),
        realtime.send({ type: "seen", group_id: 7, seq: 2 }),
    ];
    await until(() => frames.length === 2);
    results.posted = [...posted];
    results.answers = [...frames];
    await realtime._sampleClock();
    results.offsetSeconds = Math.round(realtime.clock.offset / 1000);

    // A request the server never answers (frozen) holds up the actions behind it until the
    // connection is given up; then the queue is free for the next connection's actions.
    posted.length = 0;
    realtime.send({ type: "message", group_id: 7, text: "never answered", client_msg_id: "c3" });
    realtime.send({ type: "typing", group_id: 7 });
    await until(() => posted.length === 1);
    realtime.stopped = true; // no reconnect here: the scenario stands in for the next connection
    realtime._drop("silent");
    realtime.stream = new AbortController();
    realtime.status = "online";
    realtime.send({ type: "message", group_id: 7, text: "after", client_msg_id: "c4" });
    await until(() => frames.some((frame) => frame.client_msg_id === "c4"));
    results.afterStall = posted.map(([, path, body]) => [path, body?.text ?? null]);
    results.stallFrames = frames.slice(2).map((frame) => [frame.type, frame.client_msg_id]);
    realtime.stop();
    return results;
}
