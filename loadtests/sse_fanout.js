// Fan-out over Server-Sent Events, the way ../shared/bench/fanout.js measures sockets: N event streams
// (GET /api/v1/events with a bearer token, tokens round-robin) follow one group; S senders post
// messages over HTTP (POST /api/v1/groups/{group}/messages), each keeping at most W of its own messages
// in flight (a message is done for its sender when the sender's own stream receives it back). A
// delivery is a `message` event of this run (its text carries a run mark, the sender and the send
// time) arriving on a stream. Prints one JSON line like fanout.js; marks the send phase on stderr for
// serverload.py.
//
// node sse_fanout.js SETUP.json N M [S] [W]     (SETUP.json from setup_group.py: base URL in "ws")
const fs = require("node:fs");
const http = require("node:http");

const [setupFile, N, M, S = "1", W = "16"] = process.argv.slice(2);
const setup = JSON.parse(fs.readFileSync(setupFile, "utf8"));
const base = new URL(setup.ws.replace(/^ws/, "http"));
const n = +N, m = +M, s = +S, w = +W;
const MARK = "sse" + Math.random().toString(36).slice(2, 8) + ":";
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function token(i) { return setup.tokens[i % setup.tokens.length]; }

function open(i, onText) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("stream timeout " + i)), 30000);
    const req = http.get({ host: base.hostname, port: base.port, path: "/api/v1/events",
      headers: { Authorization: "Bearer " + token(i) } }, (res) => {
      if (res.statusCode !== 200) { clearTimeout(timer); reject(new Error("status " + res.statusCode)); return; }
      res.setEncoding("utf8");
      let buffer = "", name = "message";
      res.on("data", (chunk) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, end);
          buffer = buffer.slice(end + 1);
          if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) {
            if (name === "subscribed") { clearTimeout(timer); resolve(req); }
            else if (name === "message") {
              const text = JSON.parse(line.slice(6)).text;
              if (typeof text === "string" && text.startsWith(MARK)) onText(text);
            }
          } else if (line === "") name = "message";
        }
      });
    });
    req.on("error", reject);
  });
}

function post(k, text) {
  return new Promise((resolve) => {
    const body = JSON.stringify({ text });
    const req = http.request({ host: base.hostname, port: base.port, method: "POST", agent,
      path: `/api/v1/groups/${setup.group}/messages`,
      headers: { Authorization: "Bearer " + token(k), "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) } },
      (res) => { res.resume(); res.on("end", resolve); });
    req.on("error", resolve);
    req.end(body);
  });
}

async function main() {
  const latencies = [];
  let delivered = 0;
  const expected = n * m * s;
  const inflight = new Array(s).fill(0), wake = new Array(s).fill(null);
  let done;
  const finished = new Promise((r) => (done = r));
  const streams = [];
  for (let at = 0; at < n; at += 200) {
    const part = [];
    for (let i = at; i < Math.min(n, at + 200); i++) {
      part.push(open(i, (text) => {
        const [sender, , sentAt] = text.slice(MARK.length).split(":");
        delivered++;
        latencies.push(performance.now() - +sentAt);
        if (i === +sender) { inflight[+sender]--; if (wake[+sender]) { const f = wake[+sender]; wake[+sender] = null; f(); } }
        if (delivered >= expected) done();
      }));
    }
    streams.push(...(await Promise.all(part)));
  }
  await new Promise((r) => setTimeout(r, 1500));
  process.stderr.write("send-phase-start\n");
  const t0 = performance.now();
  for (let k = 0; k < s; k++) {
    (async () => {
      for (let j = 0; j < m; j++) {
        while (inflight[k] >= w) await new Promise((r) => (wake[k] = r));
        inflight[k]++;
        post(k, `${MARK}${k}:${j}:${performance.now()}`);
      }
    })();
  }
  const outcome = await Promise.race([finished, new Promise((r) => setTimeout(r, 120000, "timeout"))]);
  const dt = (performance.now() - t0) / 1000;
  process.stderr.write("send-phase-end\n");
  latencies.sort((a, b) => a - b);
  const pct = (p) => (latencies.length ? +latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))].toFixed(2) : null);
  console.log(JSON.stringify({ mode: "sse", connections: n, senders: s, per_sender: m, expected, delivered,
    complete: outcome !== "timeout", seconds: +dt.toFixed(3), delivered_per_s: Math.round(delivered / dt),
    p50_ms: pct(0.5), p99_ms: pct(0.99), max_ms: pct(1) }));
  for (const req of streams) req.destroy();
  process.exit(0);
}
main().catch((e) => { console.error(String(e)); process.exit(1); });
