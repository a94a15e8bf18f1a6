// The chat scenario of `live bots chat`, for the Socket.IO peer: N viewers in one
// room, a swarm-wide posting rate spread round robin over enough posters, each post
// carrying its send time; every viewer times every post it receives.
//
//   node bench.js --url http://127.0.0.1:PORT --viewers 300 --rate 30 --duration 15 --ramp 3
//
// Prints one JSON object on stdout: deliveries, latency percentiles (ms), rates.
"use strict";

const { io } = require("socket.io-client");
const { performance } = require("node:perf_hooks");

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const url = arg("url", "http://127.0.0.1:3000");
const viewers = Number(arg("viewers", 100));
const rate = Number(arg("rate", 20));
const duration = Number(arg("duration", 10));
const ramp = Number(arg("ramp", 2));
const room = arg("room", "bench");
const postsPerUserPerS = 0.4; // the same spread as the Python bots
const posters = Math.min(viewers, Math.max(1, Math.ceil(rate / postsPerUserPerS)));

const now = () => performance.timeOrigin + performance.now(); // ms, sub-ms precision
const latencies = [];
let deliveries = 0;
let windowDeliveries = 0;
let sent = 0;
let acked = 0;
let connected = 0;
let disconnects = 0;
let connectErrors = 0;
let inWindow = false;
const connectMs = [];
const sockets = [];
const bySecond = []; // latencies by second since the start, for p99 over time
let t0Global = now();

function percentile(sorted, p) {
  if (!sorted.length) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return Math.round(sorted[rank - 1] * 1000) / 1000;
}

function connectOne(i) {
  return new Promise((resolve) => {
    const started = now();
    const socket = io(url, {
      transports: ["websocket"],
      query: { room },
      forceNew: true, // one connection per viewer, no multiplexing
      reconnection: true,
      timeout: 10000,
    });
    socket.on("connect", () => {
      connected += 1;
      connectMs.push(now() - started);
      resolve(socket);
    });
    socket.on("connect_error", () => {
      connectErrors += 1;
    });
    socket.on("disconnect", (reason) => {
      if (reason !== "io client disconnect") disconnects += 1;
    });
    socket.on("chat", (msg) => {
      const i = msg.text.lastIndexOf(" ~");
      if (i < 0) return;
      const sentAt = Number(msg.text.slice(i + 2));
      if (!Number.isFinite(sentAt)) return;
      const t = now();
      latencies.push(t - sentAt);
      const sec = Math.floor((t - t0Global) / 1000);
      (bySecond[sec] = bySecond[sec] || []).push(t - sentAt);
      deliveries += 1;
      if (inWindow) windowDeliveries += 1;
    });
    sockets[i] = socket;
  });
}

async function main() {
  const t0 = now();
  t0Global = t0;
  const pending = [];
  for (let i = 0; i < viewers; i++) {
    const at = ramp > 0 ? (ramp * 1000 * i) / viewers : 0;
    const wait = t0 + at - now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(connectOne(i));
  }
  await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 15000))]);
  const rampEnd = t0 + ramp * 1000;
  if (now() < rampEnd) await new Promise((r) => setTimeout(r, rampEnd - now()));

  // Post at `rate`, round robin over the posters, on an absolute schedule.
  inWindow = true;
  const loadStart = now();
  const interval = 1000 / rate;
  let k = 0;
  await new Promise((resolve) => {
    const tick = () => {
      const t = now();
      if (t - loadStart >= duration * 1000) return resolve();
      while (loadStart + k * interval <= t) {
        const socket = sockets[k % posters];
        k += 1;
        if (!socket || !socket.connected) continue;
        sent += 1;
        socket.emit("chat", { text: `hello from the load test ~${now()}` }, () => {
          acked += 1;
        });
      }
      setTimeout(tick, Math.max(1, loadStart + k * interval - now()));
    };
    tick();
  });
  inWindow = false;
  const windowS = (now() - loadStart) / 1000;
  await new Promise((r) => setTimeout(r, 2000)); // let the last posts arrive
  for (const s of sockets) if (s) s.disconnect();

  latencies.sort((a, b) => a - b);
  connectMs.sort((a, b) => a - b);
  const expected = acked * viewers;
  const out = {
    viewers,
    connected,
    connect_errors: connectErrors,
    disconnects,
    posters,
    sent,
    acked,
    posts_per_s: Math.round((sent / duration) * 10) / 10,
    deliveries,
    deliveries_expected: expected,
    delivery_ratio: expected ? Math.round((deliveries / expected) * 10000) / 10000 : null,
    deliveries_per_s: Math.round((windowDeliveries / windowS) * 10) / 10,
    delivery_ms: {
      count: latencies.length,
      p50: percentile(latencies, 50),
      p90: percentile(latencies, 90),
      p99: percentile(latencies, 99),
      max: latencies.length ? Math.round(latencies[latencies.length - 1] * 1000) / 1000 : null,
    },
    connect_ms: { p50: percentile(connectMs, 50), p99: percentile(connectMs, 99) },
    p99_ms_by_second: bySecond.map((xs) => (xs ? percentile(xs.sort((a, b) => a - b), 99) : null)),
  };
  process.stdout.write(JSON.stringify(out) + "\n");
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
