// A minimal Socket.IO chat room: what many live-shopping chats are built on.
// Every process that shares REDIS_URL forms one service (@socket.io/redis-adapter),
// like several `live serve` processes sharing one Redis.
//
//   PORT=0 REDIS_URL=redis://127.0.0.1:6379 node server.js
//
// Prints "listening on http://127.0.0.1:PORT" once ready. Per-message deflate is
// off and only the WebSocket transport is offered, as on the live server.
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

async function main() {
  const port = Number(process.env.PORT || 0);
  const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379";
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);

  const httpServer = http.createServer((req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  const io = new Server(httpServer, {
    adapter: createAdapter(pub, sub, { key: process.env.KEY_PREFIX || "bench" }),
    transports: ["websocket"],
    perMessageDeflate: false,
    serveClient: false,
  });

  io.on("connection", (socket) => {
    const room = String(socket.handshake.query.room || "bench");
    socket.join(room);
    socket.on("chat", (msg, ack) => {
      const text = msg && typeof msg.text === "string" ? msg.text.trim() : "";
      if (!text || text.length > 200) {
        if (typeof ack === "function") ack({ error: "bad_request" });
        return;
      }
      // Fan out to every socket of the room on every process.
      io.to(room).emit("chat", { user: socket.id, text, ts_ms: Date.now() });
      if (typeof ack === "function") ack({ ok: true });
    });
  });

  httpServer.listen(port, "127.0.0.1", () => {
    console.log(`listening on http://127.0.0.1:${httpServer.address().port}`);
  });
  const stop = () => {
    io.close();
    Promise.allSettled([pub.quit(), sub.quit()]).then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(`socketio peer: ${err && err.message ? err.message : err}`);
  process.exit(1);
});
