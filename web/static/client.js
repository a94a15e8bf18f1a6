// The one shared client module: tokens, HTTP, the room WebSocket (resume, backoff),
// WebRTC offers, money and time, and the words a person reads for every error code.
// It speaks only the public contract (docs: /work/shared/CONTRACT.md, docs/web.md).

// ---------------------------------------------------------------------------------------
// Small DOM helpers. User text always goes in as text nodes, never as HTML.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style" && typeof value === "object") Object.assign(node.style, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function svgEl(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

// ---------------------------------------------------------------------------------------
// Money and time.

/** Integer cents as "¥25.00". */
export function money(cents) {
  const n = Number(cents) || 0;
  const sign = n < 0 ? "-" : "";
  const abs = Math.abs(Math.round(n));
  const yuan = Math.floor(abs / 100).toLocaleString("en-US");
  return `${sign}¥${yuan}.${String(abs % 100).padStart(2, "0")}`;
}

/** Whole yuan without the cents ("¥49"), else as money(). For tight labels. */
export const moneyShort = (cents) => (Math.round(cents) % 100 === 0 ? money(cents).slice(0, -3) : money(cents));

/** "25", "25.5", "¥25.50" -> 2550 cents, or null when it is not a price. */
export function parseMoney(text) {
  const t = String(text ?? "").trim().replace(/^¥/, "").replace(/,/g, "");
  if (!/^\d+(\.\d{0,2})?$/.test(t)) return null;
  const [whole, frac = ""] = t.split(".");
  return Number(whole) * 100 + Number((frac + "00").slice(0, 2));
}

// The server's clock decides every deadline (starts_at_ms, ends_at_ms). We measure how far
// this browser's clock is off from an HTTP Date header (1 s resolution), stamped somewhere
// between sending the request and reading the answer: only a skew larger than both
// uncertainties is corrected, so a slow answer on a busy machine never shifts the clock.
let clockSkewMs = 0;
export const serverNow = () => Date.now() + clockSkewMs;
export function learnClock(response, sentAtMs = Date.now()) {
  const date = response.headers.get("date");
  if (!date) return;
  const now = Date.now();
  const skew = Date.parse(date) + 500 - (sentAtMs + now) / 2;
  const doubt = 1500 + (now - sentAtMs) / 2;
  if (Number.isFinite(skew) && Math.abs(skew) > doubt) clockSkewMs = skew;
}

/** 65_000 -> "1:05", 3_725_000 -> "1:02:05". */
export function clock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? `${h}:` : "") + `${mm}:${String(sec).padStart(2, "0")}`;
}

export const timeOfDay = (ms) =>
  new Date(ms - clockSkewMs).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });

export const seconds = (ms) => Math.max(1, Math.ceil((Number(ms) || 0) / 1000));

export function randomId(prefix) {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes);
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---------------------------------------------------------------------------------------
// Words for every error code (contract §3, §4) and close code.

/**
 * What to tell a person about an error event or HTTP error.
 * ctx: {action: "chat"|"buy"|"like"|..., anonymous, limit, mutedUntilMs}
 */
export function errorText(err, ctx = {}) {
  const code = err?.code || err?.error || "error";
  const wait = err?.retry_after_ms;
  switch (code) {
    case "rate_limited":
      if (/slow mode/i.test(err.message || ""))
        return `Slow mode is on: you can post again in ${seconds(wait)} s.`;
      return wait != null
        ? `You're going too fast. Try again in ${seconds(wait)} s.`
        : "You're going too fast. Wait a moment and try again.";
    case "muted": {
      const until = wait != null ? serverNow() + wait : ctx.mutedUntilMs;
      return until ? `You are muted until ${timeOfDay(until)}.` : "You are muted in this room for now.";
    }
    case "banned":
      return "You have been banned from this room.";
    case "too_long":
      return "That message is too long: 200 characters at most.";
    case "duplicate":
      return "You just sent that. Say something new (the same line is refused for 30 s).";
    case "unauthorized":
      if (ctx.anonymous && ctx.action === "grab") return "You're watching without signing in. Open your sign-in link to grab.";
      return ctx.anonymous
        ? "You're watching without signing in. Open your sign-in link to chat, like and buy."
        : "Your sign-in has expired or is not valid. Reload the page to sign in again.";
    case "forbidden":
      return "You are not allowed to do that in this room.";
    case "no_such_pin":
      return "That product is no longer on sale here.";
    case "not_started":
      return "The sale has not started yet. Wait for the countdown.";
    case "ended":
      if (ctx.action === "grab") return "Too late: this drop has ended.";
      return ctx.action === "chat" ? "The show has ended: chat is closed." : "This sale has ended.";
    case "sold_out":
      return "Sold out: every piece has been taken.";
    case "limit_reached":
      if (ctx.action === "grab") return "You already grabbed this one.";
      return ctx.limit
        ? `You already have the most anyone may buy (${ctx.limit} per person).`
        : "You already have the most anyone may buy of this product.";
    case "not_live":
      return "The show is not live: the bag opens when it starts.";
    case "no_such_product":
      return "That product is no longer in the bag.";
    // Drops (contract §10).
    case "gone":
      return "All taken: every one was grabbed before you.";
    case "no_such_drop":
      return "That drop is over.";
    case "task_required":
      // The server's message names the task: "follow the host first", "post in the chat first".
      return err.message ? `To grab this one, ${err.message.replace(/[.\s]+$/, "")}.` : "This drop has a task: do it first, then grab.";
    case "coupon_invalid":
      return err.message
        ? `That coupon can't be used for this order: ${err.message.replace(/[.\s]+$/, "")}.`
        : "That coupon can't be used for this order (used, expired, from another show, or the order is below its minimum).";
    // Auctions (contract §11); the auction card says these in its own words too.
    case "too_low":
      return err.min_cents != null ? `Too low: the lowest bid now is ${money(err.min_cents)}.` : "Too low: someone bid more.";
    case "no_such_auction":
      return "That auction is over.";
    case "not_found":
      return ctx.action === "order" ? "That order does not exist." : "This room does not exist.";
    case "conflict":
      return err.message ? `Not possible right now: ${err.message}.` : "Not possible right now.";
    case "too_large":
      return "That is too large to send.";
    case "unavailable":
      return "The server is busy for a moment. Try again.";
    case "offline":
      return "You're offline. Reconnecting… your last action was not sent.";
    case "bad_request":
      if (ctx.action === "chat") return `That message can't be sent: ${err.message || "it is empty or has control characters"}.`;
      return `The server refused that: ${err.message || "bad request"}.`;
    default:
      return err?.message ? `Something went wrong: ${err.message}.` : "Something went wrong.";
  }
}

export const CLOSE_WORDS = {
  4001: "Your sign-in is not valid. Reload the page or open a fresh link.",
  4003: "You have been banned from this room.",
  4004: "This room does not exist.",
};

// ---------------------------------------------------------------------------------------
// HTTP.

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error || (status === 0 ? "offline" : "error");
    this.retry_after_ms = body?.retry_after_ms;
    this.body = body; // fields beyond code and message (watch's 409: hls)
  }
}

/** Call the JSON API. Returns the parsed body; throws ApiError with the contract's code. */
export async function api(path, { method = "GET", body, token, raw = false, signal } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  const sentAt = Date.now();
  try {
    response = await fetch(path, {
      method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err?.name === "AbortError") throw err;
    throw new ApiError(0, { error: "offline", message: "the server cannot be reached" });
  }
  learnClock(response, sentAt);
  if (!response.ok) {
    let payload = null;
    try { payload = await response.json(); } catch { /* not JSON */ }
    const retry = response.headers.get("retry-after");
    if (payload && retry && payload.retry_after_ms == null) payload.retry_after_ms = Number(retry) * 1000;
    throw new ApiError(response.status, payload || { error: "error", message: `HTTP ${response.status}` });
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

// ---------------------------------------------------------------------------------------
// Tokens: a `#token=` fragment always wins; in dev mode (`live serve --dev`) pages ask
// POST /api/dev/token; otherwise the player watches anonymously.

export function jwtClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(decodeURIComponent(escape(atob(part + "===".slice((part.length + 3) % 4)))));
  } catch {
    return null;
  }
}

const fresh = (token) => {
  const claims = token && jwtClaims(token);
  return Boolean(claims && (!claims.exp || claims.exp * 1000 > Date.now() + 60_000));
};

/** The token handed over in the URL fragment (removed from the address bar, kept for reloads). */
export function fragmentToken(scope) {
  const params = new URLSearchParams(location.hash.slice(1));
  const key = `live.token.${scope}`;
  const token = params.get("token");
  if (token) {
    sessionStorage.setItem(key, token);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
    return token;
  }
  const kept = sessionStorage.getItem(key);
  return fresh(kept) ? kept : null;
}

let devMode = null;
/** Whether the server runs with --dev (it answers POST /api/dev/token). */
export async function isDev() {
  if (devMode === null) {
    try {
      await api("/api/dev/token", { method: "POST", body: { name: "probe", role: "viewer" } });
      devMode = true;
    } catch (err) {
      devMode = false;
    }
  }
  return devMode;
}

/** A dev-mode token, cached in localStorage per (role, room, name) so the user id stays put. */
export async function devToken({ name, role = "viewer", room = null }) {
  const key = `live.dev.${role}.${room || "-"}.${name}`;
  const kept = localStorage.getItem(key);
  if (fresh(kept)) return kept;
  const body = { name, role };
  if (room) body.room = room;
  const { token } = await api("/api/dev/token", { method: "POST", body });
  devMode = true;
  localStorage.setItem(key, token);
  return token;
}

/**
 * Sign a viewer in as the player does: a `#token=` fragment (kept per `scope` for reloads of
 * the tab), else on a dev server a dev token in the name the person picked (`?name=`, else
 * `live.name` in localStorage, else a new "Guest 1234"), else anonymous.
 * Returns {token, dev}; token is null when anonymous.
 */
export async function signIn(scope, { name = null } = {}) {
  const fromFragment = fragmentToken(scope);
  if (fromFragment) return { token: fromFragment, dev: false };
  const wanted = name || new URLSearchParams(location.search).get("name") || localStorage.getItem("live.name");
  const chosen = (wanted || `Guest ${Math.floor(1000 + Math.random() * 9000)}`).slice(0, 32);
  try {
    const token = await devToken({ name: chosen, role: "viewer" });
    localStorage.setItem("live.name", chosen);
    return { token, dev: true };
  } catch {
    return { token: null, dev: false }; // not a dev server: anonymous
  }
}

export function roomFromPath() {
  const parts = location.pathname.split("/").filter(Boolean);
  return decodeURIComponent(parts[parts.length - 1] || "");
}

// ---------------------------------------------------------------------------------------
// The room WebSocket.

// What to do when the server closes the socket, by close code. The server's own table comes
// from `GET /closecodes.js` (loaded by every page before this module) as
// `window.LIVE_CLOSE_CODES = {"4001": {name, reconnect, resume, backoff?}, ...}`: `reconnect`
// false is final; `resume` false drops `since` for a fresh snapshot; `backoff` false means the
// cause is gone (a process went away), so reconnect after a short jitter only. These values
// are the fallback while that table is missing (an older server).
export const FALLBACK_CLOSE_CODES = {
  4001: { name: "UNAUTHORIZED", reconnect: false, resume: false },
  4003: { name: "BANNED", reconnect: false, resume: false },
  4004: { name: "NO_SUCH_ROOM", reconnect: false, resume: false },
  4009: { name: "HISTORY_LOST", reconnect: true, resume: false },
};

/** The policy for a close code: {name, reconnect, resume, backoff}; unknown codes reconnect and resume. */
export function closePolicy(code, table = globalThis.LIVE_CLOSE_CODES) {
  const codes = table && typeof table === "object" ? table : FALLBACK_CLOSE_CODES;
  const entry = codes[String(code)] || {};
  return {
    name: entry.name || String(code),
    reconnect: entry.reconnect !== false,
    resume: entry.resume !== false,
    backoff: entry.backoff !== false,
  };
}
const STATE_ORDER = { upcoming: 0, live: 1, sold_out: 2, ended: 3 };

/**
 * Merge a pin update into what we know. Stock only falls, the count only grows and a pin's
 * state only moves forward, so an older `pin` event replayed on resume never undoes a newer
 * snapshot.
 */
export function mergePin(old, next) {
  if (!old || !next || old.id !== next.id) return next ? { ...next } : null;
  const merged = { ...old, ...next };
  merged.stock_left = Math.min(old.stock_left, next.stock_left);
  merged.count = Math.max(old.count, next.count);
  if (next.tier < old.tier) { merged.tier = old.tier; merged.price_cents = old.price_cents; }
  if ((STATE_ORDER[next.state] ?? 0) < (STATE_ORDER[old.state] ?? 0)) merged.state = old.state;
  return merged;
}

/**
 * One room connection that reconnects by itself.
 *
 * - Every server frame is an array of events; each goes to `onEvent(ev)` once.
 * - Durable events (with `seq`) at or below the last seq seen are skipped, and a reconnect
 *   asks for `since=<last seq>`, so no line is lost or repeated.
 * - Reconnects back off exponentially with full jitter (0.5 s .. 15 s), reset by a hello.
 * - What a close code means (final, resume or not, backoff or not) comes from the server's
 *   table (`closePolicy`): today 4001 / 4003 / 4004 are final and 4009 drops `since`.
 * - `request(frame)` sends a frame with an `id` and resolves with its `ack` or `error`.
 *   Answers are matched by id only: an `ack` of a chat post carries the seq of the line it
 *   confirms, and must never be skipped as "already seen".
 * - Buys and chat posts still waiting when the socket drops survive the reconnect. A buy is
 *   re-sent with the same id (the server answers a repeated id with the same order). A post
 *   is confirmed by its own line when that comes back (live, replayed or in the snapshot);
 *   if it does not, it is re-sent, and `duplicate` to a re-sent post means the first one
 *   went through. So a line that was accepted is never reported as unsent.
 */
export class RoomSocket {
  constructor(room, { token = null, query = {}, onEvent = () => {}, onStatus = () => {} } = {}) {
    this.room = room;
    this.token = token;
    this.query = query; // more of the URL's query, sent on every connection (`share`)
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.lastSeq = null;
    this.attempt = 0;
    this.ws = null;
    this.timer = null;
    this.pending = new Map();
    this.stopped = false;
    this.status = "connecting";
    this.connects = []; // {since, resumed} of every connection, for tests and debugging
    this.lastHeardAt = Date.now();
    this.me = null; // hello.you.id: my own lines confirm my posts
    this.catchUpTo = null; // after a hello: the seq the replay must reach before resending
    this.heartbeat = setInterval(() => this._beat(), 10_000);
  }

  url() {
    const query = new URLSearchParams();
    if (this.token) query.set("token", this.token);
    for (const [key, value] of Object.entries(this.query)) if (value) query.set(key, String(value));
    if (this.lastSeq !== null) query.set("since", String(this.lastSeq));
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const qs = query.toString();
    return `${proto}//${location.host}/ws/${encodeURIComponent(this.room)}${qs ? `?${qs}` : ""}`;
  }

  connect() {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = null;
    this._setStatus(this.attempt ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    this.connects.push({ since: this.lastSeq, resumed: null });
    ws.onmessage = (msg) => { if (this.ws === ws) this._frame(msg.data); };
    ws.onclose = (ev) => { if (this.ws === ws) this._closed(ev.code, ev.reason); };
    ws.onerror = () => {};
  }

  _frame(data) {
    this.lastHeardAt = Date.now();
    let events;
    try {
      events = JSON.parse(data);
    } catch {
      return;
    }
    if (!Array.isArray(events)) events = [events];
    for (const ev of events) {
      if (ev.t === "hello") {
        if (!ev.resumed || this.lastSeq === null) this.lastSeq = ev.seq;
        this.attempt = 0;
        this.me = ev.you?.id ?? null;
        const last = this.connects[this.connects.length - 1];
        if (last) last.resumed = ev.resumed;
        this._setStatus("online");
        this.onEvent(ev);
        for (const line of ev.chat || []) this._confirmByLine(line);
        // Resend only once the replay up to hello.seq is in: a post accepted before the drop
        // comes back in it and must not go out a second time.
        this.catchUpTo = ev.seq;
        if (this.lastSeq >= this.catchUpTo) this._resend();
        continue;
      }
      if (ev.t === "ack" || ev.t === "error") {
        // Answers are never filtered by seq: a chat ack carries the seq of its own line.
        if (ev.id) this._answer(ev.id, ev);
        this.onEvent(ev);
        continue;
      }
      if (typeof ev.seq === "number") {
        if (this.lastSeq !== null && ev.seq <= this.lastSeq) continue; // already seen
        this.lastSeq = ev.seq;
      }
      if (ev.t === "chat") this._confirmByLine(ev);
      this.onEvent(ev);
      if (this.catchUpTo !== null && this.lastSeq >= this.catchUpTo) this._resend();
    }
  }

  _answer(id, ev) {
    const waiting = this.pending.get(id);
    if (!waiting) return;
    this.pending.delete(id);
    // A re-sent post refused as `duplicate` is the same words from the same person within
    // 30 s: the first send went through before the link dropped.
    if (waiting.resent && waiting.frame.t === "chat" && ev.t === "error" && ev.code === "duplicate") {
      waiting.resolve({ t: "ack", id, seq: null, confirmed: "duplicate" });
      return;
    }
    waiting.resolve(ev);
  }

  // My own line coming back confirms a post whose ack was lost with the connection.
  _confirmByLine(line) {
    if (!this.me || line.user?.id !== this.me) return;
    for (const [id, waiting] of this.pending) {
      if (waiting.frame.t === "chat" && waiting.frame.text.trim() === line.text) {
        this.pending.delete(id);
        waiting.resolve({ t: "ack", id, seq: line.seq, confirmed: "line" });
        return;
      }
    }
  }

  _closed(code, reason) {
    this.ws = null;
    for (const waiting of this.pending.values()) if (waiting.resend) waiting.unsent = true;
    for (const [id, waiting] of this.pending) {
      if (!waiting.resend) {
        this.pending.delete(id);
        waiting.resolve({ t: "error", code: "offline", id, message: "connection lost" });
      }
    }
    if (this.stopped) return;
    const policy = closePolicy(code);
    if (!policy.reconnect) {
      this.stopped = true;
      this._giveUp(code);
      this._setStatus("closed", { code, reason });
      return;
    }
    if (!policy.resume) this.lastSeq = null; // the server cannot resume us: take a fresh snapshot
    this.attempt += 1;
    const ceiling = Math.min(15_000, 500 * 2 ** Math.min(this.attempt - 1, 5));
    const delay = policy.backoff
      ? Math.round(ceiling / 2 + Math.random() * (ceiling / 2))
      : Math.round(Math.random() * 1000); // the cause is gone: only spread the reconnects out
    this._setStatus("reconnecting", { code, delay });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  _resend() {
    this.catchUpTo = null;
    for (const waiting of this.pending.values()) {
      if (!waiting.resend || !waiting.unsent) continue;
      if (this._raw(waiting.frame)) {
        waiting.unsent = false;
        waiting.resent = true;
      }
    }
  }

  // The connection is over for good: nothing pending will be answered. `closed` tells the
  // page not to say "not sent" over the words it shows for the close itself.
  _giveUp(code) {
    for (const [id, waiting] of this.pending) waiting.resolve({ t: "error", code: "closed", id, closeCode: code });
    this.pending.clear();
  }

  _beat() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastHeardAt > 35_000) {
      this.drop(); // silent for too long: the link is dead even if the browser has not noticed
      return;
    }
    this._raw({ t: "ping" });
  }

  _setStatus(status, detail = {}) {
    this.status = status;
    this.onStatus(status, detail);
  }

  _raw(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Send a frame without waiting for an answer (likes). Returns whether it went out. */
  send(frame) {
    return this._raw(frame);
  }

  /**
   * Send a frame with an id; resolves with its ack or error event (never rejects).
   * With `resend`, a request the socket drops before its answer waits for the reconnect
   * (and a buy that could not go out at all waits too). Chat posts always wait for the
   * reconnect once they went out; one that never went out is answered `offline` at once.
   */
  request(frame, { resend = false } = {}) {
    return new Promise((resolve) => {
      const sent = this._raw(frame);
      const keep = resend || (sent && frame.t === "chat");
      if (!sent && !keep) {
        resolve({ t: "error", code: "offline", id: frame.id, message: "not connected" });
        return;
      }
      this.pending.set(frame.id, { frame, resolve, resend: keep, unsent: !sent });
    });
  }

  /** Drop the connection as a network failure would (debug hook), then reconnect as usual. */
  drop() {
    const ws = this.ws;
    if (!ws) return;
    this._closed(1006, "dropped");
    try { ws.close(); } catch { /* already closing */ }
  }

  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.heartbeat);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
  }
}

// ---------------------------------------------------------------------------------------
// WebRTC: the server takes one offer with every candidate in it (no trickle).

export async function gatheredOffer(pc, timeoutMs = 3000) {
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== "complete") {
    await new Promise((resolve) => {
      const done = () => {
        if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
      };
      const timer = setTimeout(resolve, timeoutMs);
      pc.addEventListener("icegatheringstatechange", done);
    });
  }
  return { sdp: pc.localDescription.sdp, type: "offer" };
}
