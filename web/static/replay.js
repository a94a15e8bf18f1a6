// The replay of a show (contract §12): its recording, the chat replayed in time beside it, the
// product moments as chapters that seek the video, and the bag, still for sale at list price.
//
// A replay is one or more recordings played end to end (`videos`, each with its `at_ms` on the
// replay's timeline). The server places the moments; the chat lines are placed here with the
// same rule (docs/replay.md): an instant inside a recording is that recording's `at_ms` plus the
// time since it began, one between two recordings is where the next one starts.
import { $, el, api, money, moneyShort, clock, errorText, signIn, roomFromPath, RoomSocket, randomId } from "./client.js";

const room = roomFromPath();
const CHAT_SHOWN = 80; // lines kept on screen: the latest up to the playing instant
const state = {
  replay: null,
  videos: [],
  current: -1, // the index in videos of the file in the <video>
  chat: [], // {at, seq, name, text}, in order
  shownChat: -1,
  moments: [],
  products: new Map(), // id -> bag product
  socket: null,
  buying: new Set(),
};
const video = $("#video");

function flash(text) {
  $("#flash").textContent = text;
  $("#flash").hidden = !text;
}

function notice(text, kind = "") {
  const box = $("#notice");
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = !text;
}

// ---------------------------------------------------------------------------------------
// The replay's timeline.

/** The replay offset (ms) of a wall-clock instant: the rule of rooms/moments.py. */
function offsetOf(ms) {
  const r = state.replay;
  if (!state.videos.length) return Math.max(0, Math.min(r.duration_ms, ms - r.started_ms));
  for (const v of state.videos) {
    if (ms < v.started_ms) return v.at_ms;
    if (ms < v.started_ms + v.duration_ms) return v.at_ms + ms - v.started_ms;
  }
  return r.duration_ms;
}

/** Where the replay is now (ms on its timeline). */
function playingAt() {
  const v = state.videos[state.current];
  return v ? v.at_ms + video.currentTime * 1000 : 0;
}

function videoAt(atMs) {
  let index = 0;
  state.videos.forEach((v, i) => { if (v.at_ms <= atMs) index = i; });
  return index;
}

/** Show file `index` at `localS` seconds into it. */
function load(index, localS, play) {
  const v = state.videos[index];
  if (!v) return;
  const go = () => {
    video.currentTime = Math.max(0, Math.min(localS, v.duration_ms / 1000));
    if (play) video.play().catch(() => {}); // a browser may want a tap first: the controls are there
    tick();
  };
  if (state.current === index && video.readyState >= 1) { go(); return; }
  state.current = index;
  video.src = v.url;
  video.addEventListener("loadedmetadata", go, { once: true });
  video.load();
}

function seek(atMs) {
  if (!state.videos.length) return;
  const index = videoAt(atMs);
  load(index, (atMs - state.videos[index].at_ms) / 1000, true);
}

video.addEventListener("ended", () => {
  if (state.current + 1 < state.videos.length) load(state.current + 1, 0, true);
});
video.addEventListener("timeupdate", () => tick());
video.addEventListener("seeked", () => tick());

function tick() {
  const at = playingAt();
  renderChat(at);
  markChapter(at);
  document.body.dataset.at = String(Math.round(at));
}

// ---------------------------------------------------------------------------------------
// Moments as chapters.

const KIND_WORDS = {
  pin: "Pinned",
  price: "Price drop",
  sold_out: "Sold out",
  pin_end: "Sale over",
  auction: "Auction",
  auction_end: "Auction won",
  drop: "Drop",
};

function chapterText(m) {
  const parts = [m.title || KIND_WORDS[m.kind]];
  if (m.price_cents != null) parts.push(moneyShort(m.price_cents));
  parts.push(clock(Math.floor(m.at_ms / 1000) * 1000));
  return parts.join(" · ");
}

function kindWord(m) {
  if (m.kind === "auction_end" && !m.winner) return "No bids";
  return KIND_WORDS[m.kind] || m.kind;
}

function renderChapters() {
  const list = state.moments.map((m, i) => el("li", { class: "chapter", dataset: { kind: m.kind, index: String(i) } },
    el("button", {
      type: "button",
      class: "chapter-btn",
      disabled: !state.videos.length,
      "aria-label": `${kindWord(m)}: ${chapterText(m)}`,
      onclick: () => seek(m.at_ms),
    },
      m.image_url ? el("img", { src: m.image_url, alt: "", class: "chapter-img", loading: "lazy" }) : el("span", { class: "chapter-img blank", "aria-hidden": "true" }),
      el("span", { class: "chapter-text" },
        el("span", { class: "chapter-kind" }, kindWord(m)),
        el("span", { class: "chapter-label" }, chapterText(m))))));
  $("#chapters").replaceChildren(...list);
  $("#momentCount").textContent = state.moments.length ? `(${state.moments.length})` : "";
  $("#noMoments").hidden = state.moments.length > 0;
}

let markedChapter = -1;
function markChapter(at) {
  let current = -1;
  state.moments.forEach((m, i) => { if (m.at_ms <= at + 250) current = i; });
  if (current === markedChapter) return;
  markedChapter = current;
  for (const li of $("#chapters").children) {
    const on = Number(li.dataset.index) === current;
    li.classList.toggle("current", on);
    // On a phone the chapters scroll sideways: keep the one playing in sight.
    if (on) $("#chapters").scrollTo({ left: li.offsetLeft - 14, behavior: "smooth" });
  }
}

// ---------------------------------------------------------------------------------------
// The chat, replayed in time.

async function loadChat() {
  const lines = [];
  const deleted = new Set();
  let after = 0;
  while (after !== null) {
    const page = await api(`/api/rooms/${encodeURIComponent(room)}/history?after=${after}&limit=1000`);
    for (const e of page.events) {
      if (e.t === "chat") lines.push({ at: offsetOf(e.ts_ms), seq: e.seq, name: e.user?.name || "", text: e.text });
      else if (e.t === "chat_deleted") deleted.add(e.target);
    }
    after = page.next;
  }
  // A post the moderators removed is not replayed at all.
  state.chat = lines.filter((l) => !deleted.has(l.seq)).sort((a, b) => a.at - b.at || a.seq - b.seq);
  state.shownChat = -1;
  document.body.dataset.chatLoaded = "1";
  renderChat(playingAt());
}

function renderChat(at) {
  let n = 0; // lines up to `at`: binary search, the list is in time order
  let lo = 0, hi = state.chat.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (state.chat[mid].at <= at) lo = mid + 1; else hi = mid;
  }
  n = lo;
  if (!state.videos.length) n = state.chat.length; // nothing plays: the whole chat
  if (n === state.shownChat) return;
  state.shownChat = n;
  const lines = state.chat.slice(Math.max(0, n - CHAT_SHOWN), n).map((l) => el("li", { class: "rp-line", dataset: { seq: String(l.seq) } },
    el("span", { class: "rp-when muted num" }, clock(Math.floor(l.at / 1000) * 1000)),
    el("b", { class: "rp-who" }, l.name),
    el("span", { class: "rp-text" }, l.text)));
  const box = $("#chat");
  box.replaceChildren(...lines);
  box.scrollTop = box.scrollHeight;
  $("#noChat").hidden = n > 0;
}

// ---------------------------------------------------------------------------------------
// The bag, still for sale at list price while it has stock (the ordinary bag buy).

function renderProducts() {
  const items = [...state.products.values()].filter((p) => p.stock_total > 0);
  $("#products").replaceChildren(...items.map((p) => {
    const left = p.stock_left;
    const busy = state.buying.has(p.id);
    return el("li", { class: "rp-product", dataset: { product: p.id } },
      el("img", { src: p.image_url || "/static/img/product.svg", alt: "", class: "rp-product-img", loading: "lazy" }),
      el("div", { class: "rp-product-text" },
        el("b", {}, p.title),
        el("span", { class: "rp-price num" }, money(p.list_price_cents)),
        el("small", { class: "muted" }, left > 0 ? `${left} left` : "Sold out")),
      el("button", {
        type: "button",
        class: left > 0 ? "primary rp-buy" : "rp-buy",
        disabled: left <= 0 || busy,
        onclick: () => buy(p),
      }, left > 0 ? (busy ? "Buying…" : "Buy") : "Sold out"));
  }));
  $("#noProducts").hidden = items.some((p) => p.stock_left > 0);
}

async function buy(product) {
  if (!state.socket) {
    notice("Sign in to buy: open this page from the shop's app.", "error");
    return;
  }
  state.buying.add(product.id);
  renderProducts();
  const answer = await state.socket.request({ t: "buy", id: randomId("b-"), product: product.id, qty: 1 }, { resend: true });
  state.buying.delete(product.id);
  if (answer.t === "ack") {
    const order = answer.order;
    const pay = order.state === "reserved" ? " Pay for it in the shop to keep it." : "";
    notice(`Ordered: ${product.title} for ${money(order.total_cents)}.${pay}`, "ok");
  } else {
    notice(errorText(answer, { action: "buy", limit: product.limit_per_user }), "error");
  }
  renderProducts();
}

function onEvent(ev) {
  if (ev.t === "hello") {
    state.products = new Map((ev.bag || []).map((p) => [p.id, p]));
    renderProducts();
  } else if (ev.t === "product") {
    if (ev.removed) state.products.delete(ev.product.id);
    else state.products.set(ev.product.id, ev.product);
    renderProducts();
  } else if (ev.t === "bag_stock") {
    for (const [id, left] of Object.entries(ev.left || {})) {
      const p = state.products.get(id);
      if (p) p.stock_left = left;
    }
    renderProducts();
  }
}

// ---------------------------------------------------------------------------------------
// Start.

async function start() {
  let info, replay;
  try {
    [info, replay] = await Promise.all([
      api(`/api/rooms/${encodeURIComponent(room)}`),
      api(`/api/rooms/${encodeURIComponent(room)}/replay`),
    ]);
  } catch (err) {
    flash(err.status === 404 ? "There is no such show." : `Could not load the replay: ${errorText(err)}`);
    return;
  }
  document.title = `Replay · ${info.room.title}`;
  $("#roomTitle").textContent = info.room.title;
  $("#hostName").textContent = info.room.host?.name || "";
  $("#endedAt").textContent = replay.duration_ms ? ` · ${clock(replay.duration_ms)}` : "";
  $("#badge").textContent = info.room.status === "live" ? "Live now" : "Replay";
  $("#badge").dataset.status = info.room.status === "live" ? "live" : "ended";
  state.replay = replay;
  state.videos = replay.videos || [];
  state.moments = replay.moments || [];
  state.products = new Map((info.bag || []).map((p) => [p.id, p]));
  renderProducts();
  renderChapters();
  if (state.videos.length) load(0, 0, false);
  else {
    video.hidden = true;
    $("#noVideo").hidden = false;
  }
  document.body.dataset.loaded = "1";
  loadChat().catch((err) => flash(`Could not load the chat: ${errorText(err)}`));
  const { token } = await signIn(`viewer.${room}`);
  if (token) {
    state.socket = new RoomSocket(room, { token, onEvent: (ev) => onEvent(ev) });
    state.socket.connect();
  }
}

start();
