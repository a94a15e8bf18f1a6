// The host's control panel: /host/{room}. Camera, show status, products and pins, live
// figures, orders, and moderation from the chat itself.
import {
  $, el, svgEl, api, money, parseMoney, clock, serverNow, timeOfDay, randomId, errorText, CLOSE_WORDS,
  RoomSocket, mergePin, fragmentToken, devToken, roomFromPath, gatheredOffer,
} from "./client.js";

const room = roomFromPath();
const base = `/api/rooms/${encodeURIComponent(room)}`;
const STATS_EVERY_MS = 2000;
const HISTORY_POINTS = 150; // 5 minutes of figures at one point every 2 s
const MAX_TIERS = 10;

const state = {
  token: null,
  room: null,
  exists: false,
  pin: null,
  names: new Map(), // user id -> display name, learned from chat
  muted: new Map(), // user id -> until ms
  banned: new Set(),
  history: [], // [{t, stats}]
  ordersSeen: -1,
  lastFinal: new Map(), // pin id -> final price
  pinTitles: new Map(), // pin id -> product title, from every pin the panel has seen (orders name their pin)
};

let socket = null;

// ---------------------------------------------------------------------------------------
// Feedback.

let flashTimer = null;
function flash(text, kind = "error", ms = 6000) {
  const box = $("#flash");
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(flashTimer);
  if (ms) flashTimer = setTimeout(() => { box.hidden = true; }, ms);
}

const hostApi = (path, opts = {}) => api(base + path, { ...opts, token: state.token });

async function guarded(what, fn) {
  try {
    return await fn();
  } catch (err) {
    flash(`${what}: ${errorText(err)}`);
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------
// The room: title, status.

function renderRoom() {
  const r = state.room;
  $("#roomId").textContent = room;
  $("#watchLink").href = `/watch/${encodeURIComponent(room)}`;
  const badge = $("#statusBadge");
  if (!state.exists) {
    badge.dataset.status = "";
    badge.textContent = "new";
    $("#titleSave").textContent = "Create room";
    $("#startBtn").hidden = true;
    $("#stopBtn").hidden = true;
    document.body.dataset.room = "new";
    return;
  }
  document.body.dataset.room = r.status;
  document.title = `${r.title} · Host`;
  badge.dataset.status = r.status;
  badge.textContent = r.status;
  $("#titleSave").textContent = "Save title";
  if (document.activeElement !== $("#titleInput")) $("#titleInput").value = r.title;
  $("#startBtn").hidden = r.status !== "scheduled";
  $("#stopBtn").hidden = r.status !== "live";
  $("#slowSelect").value = String(r.slow_s || 0);
  if (![...$("#slowSelect").options].some((o) => o.value === String(r.slow_s || 0))) {
    $("#slowSelect").append(el("option", { value: r.slow_s }, `${r.slow_s} s`));
    $("#slowSelect").value = String(r.slow_s);
  }
}

async function saveTitle(event) {
  event.preventDefault();
  const title = $("#titleInput").value.trim();
  if (!title) return;
  const body = await guarded("Title", () => hostApi("", { method: "PUT", body: { title } }));
  if (!body) return;
  const created = !state.exists;
  state.room = body;
  state.exists = true;
  renderRoom();
  flash(created ? "Room created. Start the show when you are ready." : "Title saved.", "ok", 3000);
  if (created) connect();
}

async function setStatus(verb) {
  const body = await guarded(verb === "start" ? "Start" : "Stop", () => hostApi(`/${verb}`, { method: "POST" }));
  if (!body) return;
  state.room = { ...state.room, status: body.status };
  renderRoom();
}

// ---------------------------------------------------------------------------------------
// Camera and publishing.

const cam = { stream: null, pc: null };

function camStatus(text) { $("#camStatus").textContent = text; }

async function cameraOn() {
  if (cam.stream) return cameraOff();
  try {
    cam.stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 720 }, height: { ideal: 1280 }, frameRate: { ideal: 24 } },
      audio: true,
    });
  } catch (err) {
    camStatus(`The camera could not be opened: ${err.message || err.name}.`);
    return;
  }
  $("#preview").srcObject = cam.stream;
  $("#previewOff").hidden = true;
  $("#camBtn").textContent = "Turn off camera";
  $("#publishBtn").disabled = false;
  camStatus("Preview on. Press Go live to send it to your viewers.");
}

function cameraOff() {
  unpublish();
  for (const track of cam.stream?.getTracks() || []) track.stop();
  cam.stream = null;
  $("#preview").srcObject = null;
  $("#previewOff").hidden = false;
  $("#camBtn").textContent = "Turn on camera";
  $("#publishBtn").disabled = true;
  camStatus("Camera off.");
}

async function publish() {
  if (!cam.stream) return;
  unpublish();
  const pc = new RTCPeerConnection();
  cam.pc = pc;
  for (const track of cam.stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly" });
  $("#publishBtn").disabled = true;
  camStatus("Connecting the video…");
  pc.onconnectionstatechange = () => {
    if (cam.pc !== pc) return;
    const s = pc.connectionState;
    if (s === "connected") {
      $("#onAir").hidden = false;
      camStatus(state.room?.status === "live"
        ? "On air: your viewers see and hear you."
        : "Video is up. Start the show so viewers can watch.");
    } else if (s === "failed" || s === "closed") {
      unpublish();
      camStatus("The video connection was lost. Press Go live to try again.");
    }
  };
  try {
    const offer = await gatheredOffer(pc);
    const answer = await hostApi("/publish", { method: "POST", body: offer });
    if (cam.pc !== pc) return;
    await pc.setRemoteDescription(answer);
    $("#publishBtn").hidden = true;
    $("#unpublishBtn").hidden = false;
  } catch (err) {
    if (cam.pc === pc) unpublish();
    camStatus(`Could not go live: ${errorText(err)}`);
  }
}

function unpublish() {
  const pc = cam.pc;
  cam.pc = null;
  if (pc) pc.close();
  $("#onAir").hidden = true;
  $("#unpublishBtn").hidden = true;
  $("#publishBtn").hidden = false;
  $("#publishBtn").disabled = !cam.stream;
  if (pc) camStatus("Video stopped. The preview stays on.");
}

// ---------------------------------------------------------------------------------------
// The live pin.

function renderPin() {
  const pin = state.pin;
  $("#pinEmpty").hidden = Boolean(pin);
  $("#pinLive").hidden = !pin;
  const badge = $("#pinState");
  if (!pin) { badge.dataset.status = ""; badge.textContent = "none"; return; }
  state.pinTitles.set(pin.id, pin.product.title);
  const now = serverNow();
  let shown = pin.state;
  if (state.room?.status === "ended") shown = "ended"; // the end of the show ends its sale
  if (shown !== "ended" && now >= pin.ends_at_ms) shown = "ended";
  else if (shown === "upcoming" && now >= pin.starts_at_ms) shown = "live";
  badge.dataset.status = shown;
  badge.textContent = shown.replace("_", " ");
  $("#pinImg").src = pin.product.image_url || "/static/img/product.svg";
  $("#pinTitle").textContent = pin.product.title;
  $("#pinPrice").textContent = money(pin.price_cents);
  $("#pinList").textContent = money(pin.product.list_price_cents);
  $("#pinTier").textContent = `Tier ${pin.tier + 1} of ${pin.tiers.length}` + (pin.price_protection ? " · price protection" : "");
  $("#pinCount").textContent = `${pin.count} ${pin.count_mode}`;
  const next = pin.tiers[pin.tier + 1];
  $("#pinNext").textContent = next ? `${money(next.price_cents)} at ${next.at} (${next.at - pin.count} more)` : "lowest price";
  const sold = pin.stock_total - pin.stock_left;
  $("#pinSold").textContent = `${sold} of ${pin.stock_total}`;
  $("#pinStock").textContent = `${pin.stock_left} left`;
  $("#pinStockFill").style.width = `${pin.stock_total ? (pin.stock_left / pin.stock_total) * 100 : 0}%`;
  if (shown === "upcoming") $("#pinClock").textContent = `starts in ${clock(pin.starts_at_ms - now)}`;
  else if (shown === "ended") $("#pinClock").textContent = "over";
  else if (shown === "sold_out") $("#pinClock").textContent = "sold out";
  else $("#pinClock").textContent = `ends in ${clock(pin.ends_at_ms - now)}`;
  $("#endPinBtn").hidden = shown === "ended";
  const final = state.lastFinal.get(pin.id);
  $("#pinNote").textContent = shown === "ended"
    ? `Ended${final !== undefined ? ` at ${money(final)}` : ""}; ${sold} sold.`
    : "";
}

async function endPin() {
  const pin = state.pin;
  if (!pin) return;
  const ended = await guarded("End pin", () => hostApi(`/pins/${encodeURIComponent(pin.id)}`, { method: "DELETE" }));
  if (ended) {
    state.pin = mergePin(state.pin, ended);
    renderPin();
  }
}

// ---------------------------------------------------------------------------------------
// Catalog (this browser's localStorage, per room) and the pin form.

const catalogKey = `live.catalog.${room}`;
const DEFAULT_CATALOG = [
  { id: "panda-mug", title: "Panda mug", list_price_cents: 3000, image_url: "/static/img/panda-mug.svg" },
  { id: "live-tee", title: "LIVE cotton tee", list_price_cents: 9900, image_url: "/static/img/tee.svg" },
  { id: "purple-cans", title: "Purple headphones", list_price_cents: 29900, image_url: "/static/img/headphones.svg" },
];

function catalog() {
  try {
    const kept = JSON.parse(localStorage.getItem(catalogKey) || "null");
    if (Array.isArray(kept)) return kept;
  } catch { /* fall through */ }
  return DEFAULT_CATALOG.slice();
}
const saveCatalog = (items) => localStorage.setItem(catalogKey, JSON.stringify(items));

function renderCatalog() {
  const items = catalog();
  const select = $("#productSelect");
  const before = select.value;
  select.replaceChildren(...items.map((p) => el("option", { value: p.id }, `${p.title} · ${money(p.list_price_cents)}`)));
  if (items.some((p) => p.id === before)) select.value = before;
  $("#catalogList").replaceChildren(...items.map((p) => el("li", {},
    el("img", { src: p.image_url || "/static/img/product.svg", alt: "" }),
    el("span", {}, `${p.title} `, el("small", { class: "muted" }, `${p.id} · ${money(p.list_price_cents)}`)),
    el("button", {
      type: "button", class: "ghost", title: "Remove from catalog",
      onclick: () => { saveCatalog(catalog().filter((x) => x.id !== p.id)); renderCatalog(); },
    }, "✕"))));
  $("#pinBtn").disabled = !items.length || !state.exists;
}

function addProduct() {
  const id = $("#newId").value.trim();
  const title = $("#newTitle").value.trim();
  const price = parseMoney($("#newPrice").value);
  const image = $("#newImage").value.trim();
  const problems = [];
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) problems.push("id: 1-64 letters, digits, - or _");
  if (catalog().some((p) => p.id === id)) problems.push("that id is in the catalog already");
  if (!title || title.length > 100) problems.push("title: 1-100 characters");
  if (price === null) problems.push("list price: a price like 29.90");
  if (image && !/^(https?:\/\/|\/)\S+$/.test(image)) problems.push("image: an http(s) URL or a path starting with /");
  $("#catalogError").textContent = problems.join(" · ");
  if (problems.length) return;
  const product = { id, title, list_price_cents: price };
  if (image) product.image_url = image;
  saveCatalog([...catalog(), product]);
  for (const sel of ["#newId", "#newTitle", "#newPrice", "#newImage"]) $(sel).value = "";
  renderCatalog();
  $("#productSelect").value = id;
  suggestTiers();
}

// Tier editor rows: "from N posters" -> "price ¥".
function tierRow(at, priceCents) {
  const row = el("tr", {},
    el("td", {}, el("input", { type: "number", min: 0, class: "tier-at", value: at, "aria-label": "From count" })),
    el("td", {}, el("input", { inputmode: "decimal", class: "tier-price", value: (priceCents / 100).toFixed(2), "aria-label": "Tier price" })),
    el("td", {}, el("button", { type: "button", class: "ghost tier-remove", title: "Remove tier", onclick: () => { row.remove(); validate(); } }, "✕")));
  row.addEventListener("input", validate);
  return row;
}

function readTiers() {
  return [...$("#tierRows").children].map((row) => ({
    atText: $(".tier-at", row).value.trim(),
    priceText: $(".tier-price", row).value,
    row,
  }));
}

function addTier() {
  const rows = readTiers();
  const last = rows[rows.length - 1];
  const at = last ? (Number(last.atText) || 0) + 10 : 0;
  const prev = last ? parseMoney(last.priceText) ?? 0 : currentProduct()?.list_price_cents ?? 1000;
  $("#tierRows").append(tierRow(at, Math.round(prev * 0.85)));
  validate();
}

function currentProduct() {
  return catalog().find((p) => p.id === $("#productSelect").value) || null;
}

function suggestTiers() {
  const product = currentProduct();
  if (!product) return;
  const list = product.list_price_cents;
  $("#tierRows").replaceChildren(
    tierRow(0, Math.round(list * 0.9)), tierRow(3, Math.round(list * 0.75)), tierRow(10, Math.round(list * 0.6)));
  validate();
}

function intField(sel, name, lo, hi, problems) {
  const input = $(sel);
  const text = input.value.trim();
  const value = Number(text);
  const ok = /^\d+$/.test(text) && value >= lo && value <= hi;
  input.setAttribute("aria-invalid", ok ? "false" : "true");
  if (!ok) problems.push(`${name} must be a whole number from ${lo} to ${hi}.`);
  return value;
}

/** The same rules as the server (contract §3): returns [body, problems]. */
function validate() {
  const problems = [];
  const product = currentProduct();
  if (!product) problems.push("Choose a product (add one to the catalog first).");
  const stock = intField("#stock", "Stock", 1, 1_000_000, problems);
  const limit = intField("#limit", "Per person", 1, 100, problems);
  const startsIn = intField("#startsIn", "Starts in", 0, 86_400, problems);
  const duration = intField("#duration", "Lasts", 1, 86_400, problems);
  const rows = readTiers();
  const tiers = [];
  if (rows.length < 1 || rows.length > MAX_TIERS) problems.push(`Use 1 to ${MAX_TIERS} price tiers.`);
  rows.forEach((r, i) => {
    const atOk = /^\d+$/.test(r.atText);
    const at = Number(r.atText);
    const price = parseMoney(r.priceText);
    let atBad = !atOk, priceBad = price === null;
    if (!atOk) problems.push(`Tier ${i + 1}: the count must be a whole number.`);
    if (price === null) problems.push(`Tier ${i + 1}: the price must look like 19.90.`);
    if (i === 0 && atOk && at !== 0) { problems.push("The first tier must start at 0."); atBad = true; }
    const prev = tiers[i - 1];
    if (prev && atOk && prev.at !== null && at <= prev.at) {
      problems.push(`Tier ${i + 1}: its count must be higher than tier ${i}'s (${prev.at}).`);
      atBad = true;
    }
    if (prev && price !== null && prev.price_cents !== null && price > prev.price_cents) {
      problems.push(`Tier ${i + 1}: its price must not be higher than tier ${i}'s (${money(prev.price_cents)}).`);
      priceBad = true;
    }
    $(".tier-at", r.row).setAttribute("aria-invalid", atBad ? "true" : "false");
    $(".tier-price", r.row).setAttribute("aria-invalid", priceBad ? "true" : "false");
    tiers.push({ at: atOk ? at : null, price_cents: price });
  });
  $("#addTier").disabled = rows.length >= MAX_TIERS;
  const count = document.querySelector('input[name="count"]:checked').value;
  $("#unitLabel").textContent = count;
  $("#problems").replaceChildren(...problems.map((p) => el("li", {}, p)));
  $("#pinBtn").disabled = problems.length > 0 || !state.exists;
  if (problems.length) return [null, problems];
  const productBody = { id: product.id, title: product.title, list_price_cents: product.list_price_cents };
  if (product.image_url) productBody.image_url = product.image_url;
  return [{
    product: productBody, stock, limit_per_user: limit, starts_in_s: startsIn, duration_s: duration,
    tiers, count, price_protection: $("#protection").checked,
  }, problems];
}

async function submitPin(event) {
  event.preventDefault();
  const [body] = validate();
  if (!body) return;
  $("#pinBtn").disabled = true;
  const pin = await guarded("Pin", () => hostApi("/pins", { method: "POST", body }));
  $("#pinBtn").disabled = false;
  if (pin) {
    state.pin = mergePin(state.pin, pin);
    renderPin();
    flash(`Pinned ${pin.product.title} at ${money(pin.price_cents)}.`, "ok", 3000);
  }
}

// ---------------------------------------------------------------------------------------
// Chat and moderation.

function chatLine(ev) {
  const uid = ev.user?.id;
  const isHost = uid === state.room?.host?.id || uid === socketMe()?.id;
  state.names.set(uid, ev.user?.name);
  const actions = isHost ? [] : [
    el("button", { type: "button", class: "ghost act", title: "Delete this line", "data-act": "delete", onclick: () => moderate({ action: "delete", seq: ev.seq }) }, "Delete"),
    el("button", { type: "button", class: "ghost act", title: "Mute this person", "data-act": "mute", onclick: () => mute(uid) }, "Mute"),
    el("button", { type: "button", class: "ghost act danger-text", title: "Ban this person", "data-act": "ban", onclick: (e) => ban(uid, e.currentTarget) }, "Ban"),
  ];
  return el("li", { class: `hline${isHost ? " host" : ""}`, dataset: { seq: ev.seq, user: uid } },
    el("time", {}, timeOfDay(ev.ts_ms).slice(0, 5)),
    el("b", {}, ev.user?.name || "?"),
    el("span", { class: "text" }, ev.text),
    el("span", { class: "acts" }, actions));
}

function addChat(ev) {
  const list = $("#chat");
  if (list.querySelector(`li[data-seq="${ev.seq}"]`)) return;
  const stick = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  list.append(chatLine(ev));
  while (list.childElementCount > 300) list.firstElementChild.remove();
  if (stick) list.scrollTop = list.scrollHeight;
}

async function moderate(body) {
  const done = await guarded("Moderation", () => hostApi("/moderation", { method: "POST", body }));
  return Boolean(done);
}

async function mute(user) {
  const minutes = Number($("#muteMinutes").value);
  if (await moderate({ action: "mute", user, seconds: minutes * 60 })) {
    flash(`${state.names.get(user) || user} is muted for ${minutes} min.`, "ok", 3000);
  }
}

function ban(user, button) {
  // Two steps: a ban closes the person's connection at once.
  if (button.dataset.armed !== "1") {
    button.dataset.armed = "1";
    button.textContent = "Sure?";
    setTimeout(() => { button.dataset.armed = ""; button.textContent = "Ban"; }, 3000);
    return;
  }
  moderate({ action: "ban", user }).then((ok) => ok && flash(`${state.names.get(user) || user} is banned.`, "ok", 3000));
}

function renderModerated() {
  const now = serverNow();
  const items = [];
  for (const [user, until] of state.muted) {
    if (until <= now) { state.muted.delete(user); continue; }
    items.push(el("li", {}, `Muted: ${state.names.get(user) || user} until ${timeOfDay(until)} `,
      el("button", { type: "button", class: "ghost", onclick: () => moderate({ action: "unmute", user }) }, "Unmute")));
  }
  for (const user of state.banned) {
    items.push(el("li", {}, `Banned: ${state.names.get(user) || user} `,
      el("button", { type: "button", class: "ghost", onclick: () => moderate({ action: "unban", user }) }, "Unban")));
  }
  $("#moderated").replaceChildren(...items);
}

function onMod(ev) {
  if (ev.action === "mute") state.muted.set(ev.user, serverNow() + ev.seconds * 1000);
  else if (ev.action === "unmute") state.muted.delete(ev.user);
  else if (ev.action === "ban") state.banned.add(ev.user);
  else if (ev.action === "unban") state.banned.delete(ev.user);
  else if (ev.action === "slow") {
    state.room = { ...state.room, slow_s: ev.seconds };
    renderRoom();
  }
  renderModerated();
}

async function hostChat(event) {
  event.preventDefault();
  const input = $("#hostChatInput");
  const text = input.value.trim();
  if (!text || !socket) return;
  input.value = "";
  const answer = await socket.request({ t: "chat", id: randomId("c-"), text });
  if (answer.t === "error") {
    if (!input.value) input.value = text;
    if (answer.code !== "closed") flash(errorText(answer, { action: "chat" }));
  }
}

const socketMe = () => state.you;

// ---------------------------------------------------------------------------------------
// Figures: GET /stats every 2 s, drawn as small live charts.

const TILES = [
  { key: "viewers", label: "Viewers", value: (s) => s.viewers, sub: (s) => `peak ${s.peak_viewers} · ${s.unique_viewers} unique`, color: "#64d2ff" },
  { key: "chat", label: "Chat / min", value: (s, h) => chatPerMinute(h), sub: (s) => `${s.chat_posts} posts`, color: "#ffd60a" },
  { key: "likes", label: "Likes", value: (s) => s.likes, sub: () => "total", color: "#ff2d55" },
  { key: "orders", label: "Orders", value: (s) => s.orders, sub: (s) => `${s.units} units · ${s.buyers} buyers`, color: "#30d158" },
  { key: "gmv", label: "GMV", value: (s) => s.gmv_cents, fmt: money, sub: (s) => (s.refund_cents ? `refunds owed ${money(s.refund_cents)}` : "no refunds owed"), color: "#ff9f0a" },
  { key: "conversion", label: "Conversion", value: (s) => s.conversion, fmt: (v) => `${(v * 100).toFixed(1)}%`, sub: () => "buyers / unique viewers", color: "#bf5af2" },
];

function chatPerMinute(history) {
  if (!history.length) return 0;
  const last = history[history.length - 1];
  let first = history[0];
  for (const point of history) if (last.t - point.t <= 60_000) { first = point; break; }
  return last.stats.chat_posts - first.stats.chat_posts;
}

function buildTiles() {
  $("#tiles").replaceChildren(...TILES.map((tile) => {
    const svg = svgEl("svg", { viewBox: "0 0 120 36", preserveAspectRatio: "none", class: "spark", "aria-hidden": "true" });
    return el("div", { class: "tile", dataset: { key: tile.key } },
      el("div", { class: "tile-label" }, tile.label),
      el("div", { class: "tile-value num", id: `fig-${tile.key}` }, "–"),
      el("div", { class: "tile-sub", id: `sub-${tile.key}` }, ""),
      svg);
  }));
}

function spark(svg, values, color, peak = null) {
  svg.replaceChildren();
  if (values.length < 2) return;
  const max = Math.max(1e-9, ...values, peak ?? 0);
  const min = Math.min(0, ...values);
  const x = (i) => (i / (values.length - 1)) * 120;
  const y = (v) => 34 - ((v - min) / (max - min || 1)) * 30;
  const line = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  svg.append(svgEl("polygon", { points: `0,36 ${line} 120,36`, fill: color, "fill-opacity": 0.16 }));
  svg.append(svgEl("polyline", { points: line, fill: "none", stroke: color, "stroke-width": 1.8, "vector-effect": "non-scaling-stroke" }));
  if (peak !== null) {
    svg.append(svgEl("line", { x1: 0, x2: 120, y1: y(peak), y2: y(peak), stroke: color, "stroke-dasharray": "3 3", "stroke-opacity": 0.6, "vector-effect": "non-scaling-stroke" }));
  }
}

function renderFigures() {
  const history = state.history;
  if (!history.length) return;
  const stats = history[history.length - 1].stats;
  for (const tile of TILES) {
    const value = tile.value(stats, history);
    $(`#fig-${tile.key}`).textContent = tile.fmt ? tile.fmt(value) : String(value);
    $(`#sub-${tile.key}`).textContent = tile.sub(stats);
    const series = history.map((p, i) => tile.key === "chat" ? chatPerMinute(history.slice(0, i + 1)) : tile.value(p.stats, []));
    spark($(`.tile[data-key="${tile.key}"] svg`), series, tile.color, tile.key === "viewers" ? stats.peak_viewers : null);
  }
}

async function pollStats() {
  if (!state.exists) return;
  try {
    const stats = await hostApi("/stats");
    state.history.push({ t: Date.now(), stats });
    if (state.history.length > HISTORY_POINTS) state.history.shift();
    $("#figuresAge").textContent = `updated ${timeOfDay(serverNow())}`;
    renderFigures();
    if (stats.orders !== state.ordersSeen || stats.refund_cents !== state.refundsSeen) {
      state.ordersSeen = stats.orders;
      state.refundsSeen = stats.refund_cents;
      loadOrders();
    }
  } catch (err) {
    $("#figuresAge").textContent = errorText(err);
  }
}

// ---------------------------------------------------------------------------------------
// Orders.

// Orders carry the buyer's display name (`name`, from the server) and their pin's id; the
// product title comes from the pins this panel has seen. Ids stay in the row's tooltip.
const buyerName = (o) => o.name || state.names.get(o.user) || o.user;
const productTitle = (o) => state.pinTitles.get(o.pin) || o.pin;
const localDateTime = (ms) => new Date(ms).toLocaleString([], { hour12: false });

async function loadOrders() {
  let body;
  try {
    body = await hostApi("/orders");
  } catch (err) {
    $("#ordersCount").textContent = errorText(err);
    return;
  }
  const orders = body.orders.slice().sort((a, b) => b.ts_ms - a.ts_ms);
  $("#ordersCount").textContent = `${orders.length} · ${money(orders.reduce((n, o) => n + o.total_cents, 0))}`;
  const rows = orders.map((o) => el("tr", {
    dataset: { order: o.id },
    title: `Order ${o.id} · buyer ${o.user} · pin ${o.pin} · tier ${o.tier + 1} · ${localDateTime(o.ts_ms)}`,
  },
    el("td", { class: "num" }, el("time", { datetime: new Date(o.ts_ms).toISOString() }, timeOfDay(o.ts_ms))),
    el("td", { class: "buyer" }, buyerName(o)),
    el("td", { class: "product" }, productTitle(o)),
    el("td", { class: "num" }, `${o.qty} × ${money(o.unit_price_cents)}`),
    el("td", { class: "num" }, money(o.total_cents)),
    el("td", { class: "num" }, o.refund_cents ? money(o.refund_cents) : "–")));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 6, class: "muted empty" }, "No orders yet.")));
  $("#orderRows").replaceChildren(...rows);
}

function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function downloadCsv() {
  // The CSV needs the Authorization header, so a plain link cannot fetch it: fetch, then save a blob.
  const response = await guarded("CSV", () => hostApi("/orders?format=csv", { raw: true }));
  if (!response) return;
  saveBlob(await response.blob(), `${room}-orders.csv`);
}

async function downloadJson() {
  // The server's own order objects, as the API gives them (integer cents, epoch ms).
  const body = await guarded("JSON", () => hostApi("/orders"));
  if (!body) return;
  saveBlob(new Blob([JSON.stringify(body, null, 2)], { type: "application/json" }), `${room}-orders.json`);
}

// ---------------------------------------------------------------------------------------
// The room's WebSocket, as the host.

function onEvent(ev) {
  switch (ev.t) {
    case "hello":
      state.you = ev.you;
      state.room = ev.room;
      state.exists = true;
      if (!ev.resumed) {
        $("#chat").replaceChildren();
        for (const line of ev.chat) addChat(line);
        state.pin = ev.pin;
      } else if (ev.pin) {
        state.pin = mergePin(state.pin, ev.pin);
      }
      renderRoom();
      renderPin();
      return;
    case "chat": return addChat(ev);
    case "chat_deleted":
      for (const node of document.querySelectorAll(`#chat li[data-seq="${ev.target}"]`)) node.remove();
      return;
    case "pin": state.pin = mergePin(state.pin, ev.pin); return renderPin();
    case "price":
      if (state.pin?.id === ev.pin) {
        state.pin = mergePin(state.pin, { ...state.pin, tier: ev.tier, price_cents: ev.price_cents, count: ev.count });
        renderPin();
      }
      return;
    case "progress":
      if (state.pin?.id === ev.pin) { state.pin = mergePin(state.pin, { ...state.pin, count: ev.count }); renderPin(); }
      return;
    case "stock":
      if (state.pin?.id === ev.pin) { state.pin = mergePin(state.pin, { ...state.pin, stock_left: ev.left }); renderPin(); }
      return;
    case "sold_out":
      if (state.pin?.id === ev.pin) { state.pin = mergePin(state.pin, { ...state.pin, state: "sold_out", stock_left: 0 }); renderPin(); }
      return;
    case "pin_end":
      state.lastFinal.set(ev.pin, ev.final_price_cents);
      if (state.pin?.id === ev.pin) { state.pin = mergePin(state.pin, { ...state.pin, state: "ended" }); renderPin(); }
      loadOrders();
      return;
    case "room":
      state.room = { ...state.room, status: ev.status, title: ev.title ?? state.room?.title };
      renderRoom();
      renderPin();
      return;
    case "mod": return onMod(ev);
    // Between two stats polls the socket's own counters keep the tiles current.
    case "viewers": $("#fig-viewers").textContent = String(ev.n); return;
    case "likes": $("#fig-likes").textContent = String(ev.total); return;
    case "error":
      if (!ev.id) flash(errorText(ev));
      return;
    default:
      return;
  }
}

function onStatus(status, detail) {
  const net = $("#net");
  net.dataset.status = status;
  net.textContent = { online: "connected", reconnecting: "reconnecting…", connecting: "connecting", closed: "disconnected" }[status] || status;
  if (status === "closed") flash(CLOSE_WORDS[detail.code] || "The connection was closed.", "error", 0);
}

function connect() {
  if (socket) socket.close();
  socket = new RoomSocket(room, { token: state.token, onEvent, onStatus });
  socket.connect();
  window.__live = { get socket() { return socket; }, state, drop: () => socket.drop() };
}

// ---------------------------------------------------------------------------------------
// Start.

async function identify() {
  const fromFragment = fragmentToken(`host.${room}`);
  if (fromFragment) return fromFragment;
  const name = (new URLSearchParams(location.search).get("name") || localStorage.getItem("live.hostName") || "Host").slice(0, 32);
  try {
    return await devToken({ name, role: "host", room });
  } catch {
    return null;
  }
}

function gate(text) {
  const box = $("#gate");
  box.replaceChildren(el("div", { class: "gate-box" },
    el("h1", {}, "Host panel"),
    el("p", {}, text),
    el("pre", {}, `live token --role host --room ${room} --name "Your name"`),
    el("p", { class: "muted" }, `Then open /host/${room}#token=<that token>`)));
  box.hidden = false;
}

function bindUi() {
  $("#titleForm").addEventListener("submit", saveTitle);
  $("#startBtn").addEventListener("click", () => setStatus("start"));
  $("#stopBtn").addEventListener("click", () => setStatus("stop"));
  $("#camBtn").addEventListener("click", cameraOn);
  $("#publishBtn").addEventListener("click", publish);
  $("#unpublishBtn").addEventListener("click", unpublish);
  $("#endPinBtn").addEventListener("click", endPin);
  $("#catalogToggle").addEventListener("click", () => { $("#catalog").hidden = !$("#catalog").hidden; });
  $("#addProduct").addEventListener("click", addProduct);
  $("#productSelect").addEventListener("change", suggestTiers);
  $("#addTier").addEventListener("click", addTier);
  $("#pinForm").addEventListener("input", validate);
  $("#pinForm").addEventListener("change", validate);
  $("#pinForm").addEventListener("submit", submitPin);
  $("#hostChat").addEventListener("submit", hostChat);
  $("#slowSelect").addEventListener("change", async (e) => {
    const seconds = Number(e.target.value);
    if (await moderate({ action: "slow", seconds })) flash(seconds ? `Slow mode: one post every ${seconds} s.` : "Slow mode off.", "ok", 3000);
  });
  $("#ordersRefresh").addEventListener("click", loadOrders);
  $("#csvBtn").addEventListener("click", downloadCsv);
  $("#jsonBtn").addEventListener("click", downloadJson);
}

async function main() {
  bindUi();
  buildTiles();
  renderCatalog();
  suggestTiers();
  $("#roomId").textContent = room;
  state.token = await identify();
  if (!state.token) {
    gate("This panel needs a host token for this room. Make one with:");
    return;
  }
  try {
    const snap = await api(base);
    state.room = snap.room;
    state.exists = true;
    state.pin = snap.pin;
  } catch (err) {
    if (err.code !== "not_found") flash(errorText(err));
    state.exists = false;
    $("#titleInput").value = new URLSearchParams(location.search).get("title") || "";
  }
  renderRoom();
  renderPin();
  renderCatalog();
  validate();
  if (state.exists) {
    connect();
    loadOrders();
  }
  pollStats();
  setInterval(pollStats, STATS_EVERY_MS);
  setInterval(() => { renderPin(); renderModerated(); }, 500);
}

main();
