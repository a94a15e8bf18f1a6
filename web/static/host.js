// The host's control panel: /host/{room}. Camera, show status, products and pins, drops
// (host_drops.js), auctions (host_auction.js), live figures, orders, and moderation from the chat itself.
import {
  $, el, svgEl, api, money, parseMoney, clock, serverNow, timeOfDay, randomId, errorText, CLOSE_WORDS,
  RoomSocket, mergePin, fragmentToken, devToken, roomFromPath, gatheredOffer,
} from "./client.js";
import { DropsPanel } from "./host_drops.js";
import { AuctionPanel } from "./host_auction.js";

const room = roomFromPath();
const base = `/api/rooms/${encodeURIComponent(room)}`;
const STATS_EVERY_MS = 2000;
const HISTORY_POINTS = 150; // 5 minutes of figures at one point every 2 s
const MAX_TIERS = 10;
const SHARES_EVERY_MS = 3000;
const DESCRIPTION_MAX = 500;
const COMMISSION_MAX_PCT = 50; // commission_bp 0-5000

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
  bag: [], // the room's products, in the order added
  productTitles: new Map(), // product id -> title, also of products removed since
  statesSeen: "", // orders_by_state as last seen: a change reloads the orders
  settingsDirty: false, // the host is editing the show settings: events do not overwrite them
};

let socket = null;
let drops = null; // the Drops card (host_drops.js)
let auctions = null; // the Auction card (host_auction.js)

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
  renderPay();
  renderSettings();
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
  if (created) {
    connect();
    renderBag();
  }
}

async function setStatus(verb) {
  const body = await guarded(verb === "start" ? "Start" : "Stop", () => hostApi(`/${verb}`, { method: "POST" }));
  if (!body) return;
  state.room = { ...state.room, status: body.status };
  renderRoom();
  drops.validate();
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
// The bag: the room's products, kept by the server (GET …/products, `product` and
// `bag_stock` events), edited with PUT / DELETE …/products/{id}.

const productPath = (id) => `/products/${encodeURIComponent(id)}`;
const bagProduct = (id) => state.bag.find((p) => p.id === id) || null;

function setBag(products) {
  state.bag = (products || []).map((p) => ({ ...p }));
  for (const p of state.bag) state.productTitles.set(p.id, p.title);
  renderBag();
}

/** A `product` event or an answer to PUT: added or changed in place, in the order added. */
function putProduct(product) {
  state.productTitles.set(product.id, product.title);
  const i = state.bag.findIndex((p) => p.id === product.id);
  if (i >= 0) state.bag[i] = { ...state.bag[i], ...product };
  else state.bag.push({ ...product });
  renderBag();
}

async function loadBag() {
  try {
    setBag((await hostApi("/products")).products);
  } catch (err) {
    $("#bagCount").textContent = errorText(err);
  }
}

function dropProduct(id) {
  state.bag = state.bag.filter((p) => p.id !== id);
  renderBag();
}

function bagStock(left) {
  for (const [id, n] of Object.entries(left || {})) {
    const p = bagProduct(id);
    if (p) p.stock_left = n;
  }
  renderBag();
}

function renderBag() {
  const pinnedId = state.pin && !["ended"].includes(state.pin.state) ? state.pin.product?.id : null;
  $("#bagCount").textContent = state.bag.length ? `${state.bag.length} product${state.bag.length > 1 ? "s" : ""}` : "";
  const rows = state.bag.map((p) => {
    const left = Math.max(0, p.stock_left ?? p.stock_total);
    return el("li", { class: "bag-row", dataset: { product: p.id } },
      el("img", { src: p.image_url || "/static/img/product.svg", alt: "" }),
      el("div", { class: "bag-text" },
        el("div", { class: "bag-title" }, p.title, pinnedId === p.id ? el("span", { class: "badge", dataset: { status: "live" } }, "pinned") : null),
        el("div", { class: "muted small" },
          el("span", { class: "num" }, money(p.list_price_cents)), " · ",
          el("span", { class: "num bag-stock" }, `${left} / ${p.stock_total} left`), " · ",
          `${p.limit_per_user} per person`)),
      el("div", { class: "bag-acts" },
        el("button", {
          type: "button", class: "primary pin-from-bag", title: `Pin ${p.title} as a flash sale with the settings below`,
          disabled: !state.exists || left < 1, onclick: () => pinFromBag(p.id),
        }, "Pin"),
        el("button", { type: "button", class: "ghost edit-product", onclick: () => editProduct(p.id) }, "Edit"),
        el("button", { type: "button", class: "ghost remove-product", title: "Remove from the bag", "aria-label": `Remove ${p.title}`, onclick: () => removeProduct(p.id) }, "✕")));
  });
  if (!rows.length) rows.push(el("li", { class: "muted empty" }, state.exists ? "The bag is empty. Add a product." : "Create the room first."));
  $("#bagList").replaceChildren(...rows);
  $("#addProductBtn").disabled = !state.exists;
  renderProductSelect();
  auctions?.renderProducts(); // the auction's lot select lists the bag too
}

function openProductForm(product = null) {
  const form = $("#productForm");
  form.hidden = false;
  form.dataset.editing = product ? product.id : "";
  $("#addProductBtn").setAttribute("aria-expanded", "true");
  $("#prodId").value = product?.id || "";
  $("#prodId").readOnly = Boolean(product);
  $("#prodTitle").value = product?.title || "";
  $("#prodPrice").value = product ? (product.list_price_cents / 100).toFixed(2) : "";
  $("#prodStock").value = String(product?.stock_total ?? 100);
  $("#prodLimit").value = String(product?.limit_per_user ?? 5);
  $("#prodImage").value = product?.image_url || "";
  $("#productSave").textContent = product ? "Save changes" : "Add to bag";
  $("#productProblems").replaceChildren();
  (product ? $("#prodTitle") : $("#prodId")).focus();
}

function closeProductForm() {
  $("#productForm").hidden = true;
  $("#addProductBtn").setAttribute("aria-expanded", "false");
}

const editProduct = (id) => { const p = bagProduct(id); if (p) openProductForm(p); };

/** The product form's fields, checked as the server checks them (contract §6). */
function readProductForm() {
  const problems = [];
  const id = $("#prodId").value.trim();
  const title = $("#prodTitle").value.trim();
  const price = parseMoney($("#prodPrice").value);
  const image = $("#prodImage").value.trim();
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) problems.push("Id: 1-64 letters, digits, - or _.");
  const editing = $("#productForm").dataset.editing;
  if (!editing && bagProduct(id)) problems.push("That id is in the bag already: edit it instead.");
  if (!title || title.length > 100) problems.push("Title: 1-100 characters.");
  if (price === null) problems.push("List price: a price like 29.90.");
  const stock = intField("#prodStock", "Stock", 0, 1_000_000, problems);
  const limit = intField("#prodLimit", "Per person", 1, 100, problems);
  if (image && !/^(https?:\/\/|\/)\S+$/.test(image)) problems.push("Image: an http(s) URL or a path starting with /.");
  const body = { title, list_price_cents: price, stock, limit_per_user: limit };
  if (image) body.image_url = image;
  return [id, body, problems];
}

async function saveProduct(event) {
  event.preventDefault();
  const [id, body, problems] = readProductForm();
  $("#productProblems").replaceChildren(...problems.map((p) => el("li", {}, p)));
  if (problems.length) return;
  $("#productSave").disabled = true;
  try {
    const product = await hostApi(productPath(id), { method: "PUT", body });
    putProduct(product);
    closeProductForm();
    flash(`${product.title} is in the bag: ${product.stock_left} of ${product.stock_total} for sale.`, "ok", 3000);
  } catch (err) {
    // 409: the stock is lower than the units orders already hold.
    $("#productProblems").replaceChildren(el("li", {}, errorText(err)));
  } finally {
    $("#productSave").disabled = false;
  }
}

async function removeProduct(id) {
  const p = bagProduct(id);
  try {
    await hostApi(productPath(id), { method: "DELETE" });
    dropProduct(id);
    flash(`${p?.title || id} is out of the bag.`, "ok", 3000);
  } catch (err) {
    // 409 while it is pinned or has orders waiting for payment: say which, in words.
    const why = err.code === "conflict"
      ? `${p?.title || id} can't be removed yet: ${err.message || "it is pinned or has orders waiting for payment"}.`
      : `Remove ${p?.title || id}: ${errorText(err)}`;
    flash(why);
  }
}

// Room setting: how long a reserved order waits for payment (0 = confirmed at once).
function renderPay() {
  const input = $("#payWithin");
  const s = state.room?.pay_within_s;
  if (document.activeElement !== input && s !== undefined && s !== null) input.value = String(s);
  $("#payNote").textContent = s ? `Unpaid orders expire after ${clock(s * 1000)}.` : (s === 0 ? "Orders are confirmed at once." : "");
  $("#paySave").disabled = !state.exists;
}

async function savePay(event) {
  event.preventDefault();
  const problems = [];
  const seconds = intField("#payWithin", "Pay within", 0, 86_400, problems);
  if (problems.length) { $("#payNote").textContent = problems[0]; return; }
  const title = state.room?.title || $("#titleInput").value.trim();
  const body = await guarded("Pay within", () => hostApi("", { method: "PUT", body: { title, pay_within_s: seconds } }));
  if (!body) return;
  state.room = { ...state.room, ...body, pay_within_s: body.pay_within_s ?? seconds };
  renderPay();
  flash(seconds ? `New orders wait ${clock(seconds * 1000)} for payment.` : "New orders are confirmed at once.", "ok", 3000);
}

// ---------------------------------------------------------------------------------------
// Show settings: when it starts (starts_at_ms, entered in the host's own time), the
// description viewers read before the show, and the sharers' commission (commission_bp,
// shown as a percent: 10 % = 1000 bp).

const pad2 = (n) => String(n).padStart(2, "0");
/** Epoch ms as a datetime-local value in this browser's time zone. */
function localInputValue(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}
const percentText = (bp) => `${(bp / 100).toLocaleString("en-US", { maximumFractionDigits: 2 })} %`;
const codePoints = (text) => [...text].length;

function renderSettings() {
  $("#settingsSave").disabled = !state.exists;
  const r = state.room;
  if (!r || state.settingsDirty) return; // never overwrite what the host is typing
  $("#startsAt").value = r.starts_at_ms ? localInputValue(r.starts_at_ms) : "";
  $("#description").value = r.description || "";
  $("#commission").value = r.commission_bp ? String(r.commission_bp / 100) : "";
  renderDescCount();
  const parts = [];
  if (r.starts_at_ms) parts.push(`Planned for ${new Date(r.starts_at_ms).toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}`);
  if (r.commission_bp !== undefined) parts.push(r.commission_bp ? `sharers earn ${percentText(r.commission_bp)} of what they bring` : "no commission for sharers");
  $("#settingsNote").textContent = parts.join(" · ");
}

function renderDescCount() {
  const n = codePoints($("#description").value.trim());
  $("#descCount").textContent = n > 400 ? `${n}/${DESCRIPTION_MAX}` : "";
}

/** The settings as the server takes them, or {problems} (checked as the server checks them). */
function readSettings() {
  const problems = [];
  const when = $("#startsAt").value;
  let startsAt = null;
  if (when) {
    startsAt = new Date(when).getTime(); // a datetime-local value without a zone is local time
    if (!Number.isFinite(startsAt)) problems.push("Starts at is not a date and time.");
  }
  const description = $("#description").value.trim();
  if (codePoints(description) > DESCRIPTION_MAX) problems.push(`The description is too long: ${DESCRIPTION_MAX} characters at most.`);
  if (/[\u0000-\u0009\u000b-\u001f\u007f]/.test(description)) problems.push("The description has control characters (only line breaks are allowed).");
  const pctText = $("#commission").value.trim();
  const pct = pctText === "" ? 0 : Number(pctText);
  const bp = Math.round(pct * 100);
  if (!Number.isFinite(pct) || pct < 0 || pct > COMMISSION_MAX_PCT || Math.abs(pct * 100 - bp) > 1e-6) {
    problems.push(`Commission is a percent from 0 to ${COMMISSION_MAX_PCT}, with at most two decimals.`);
  }
  $("#startsAt").setAttribute("aria-invalid", problems.some((p) => p.startsWith("Starts")) ? "true" : "false");
  $("#description").setAttribute("aria-invalid", problems.some((p) => p.includes("description")) ? "true" : "false");
  $("#commission").setAttribute("aria-invalid", problems.some((p) => p.startsWith("Commission")) ? "true" : "false");
  return problems.length ? { problems } : { starts_at_ms: startsAt, description, commission_bp: bp };
}

async function saveSettings(event) {
  event.preventDefault();
  const settings = readSettings();
  if (settings.problems) { $("#settingsNote").textContent = settings.problems.join(" "); return; }
  const title = state.room?.title || $("#titleInput").value.trim();
  const body = await guarded("Settings", () => hostApi("", { method: "PUT", body: { title, ...settings } }));
  if (!body) return;
  state.room = { ...state.room, ...body };
  state.settingsDirty = false;
  renderRoom();
  flash("Show settings saved.", "ok", 3000);
}

// ---------------------------------------------------------------------------------------
// The share leaderboard: GET …/shares every 3 s (who brought viewers and buyers, and the
// commission their orders earn; only orders that stand count).

async function pollShares() {
  if (!state.exists) return;
  try {
    const body = await hostApi("/shares");
    renderShares(body.shares || []);
  } catch (err) {
    $("#sharesNote").textContent = errorText(err);
  }
}

function renderShares(shares) {
  const owed = shares.reduce((n, s) => n + (s.commission_cents || 0), 0);
  $("#sharesNote").textContent = shares.length ? `${shares.length} · ${money(owed)} commission` : "";
  const rows = shares.map((s) => el("tr", { dataset: { user: s.user?.id }, title: s.user?.id },
    el("td", { class: "sh-sharer" }, s.user?.name || s.user?.id || "?"),
    el("td", { class: "sh-visits" }, String(s.visits)),
    el("td", { class: "sh-buyers" }, String(s.buyers)),
    el("td", { class: "sh-orders" }, String(s.orders)),
    el("td", { class: "sh-gmv" }, money(s.gmv_cents)),
    el("td", { class: "sh-commission" }, money(s.commission_cents))));
  if (!rows.length) {
    rows.push(el("tr", {}, el("td", { colspan: 6, class: "empty" },
      "Nobody has shared this show yet. Viewers get a link of their own from the Share button in the player.")));
  }
  $("#shareRows").replaceChildren(...rows);
}

function renderProductSelect() {
  const select = $("#productSelect");
  const before = select.value;
  select.replaceChildren(...state.bag.map((p) => el("option", { value: p.id },
    `${p.title} · ${money(p.list_price_cents)} · ${Math.max(0, p.stock_left ?? 0)} left`)));
  if (bagProduct(before)) select.value = before;
  else if (state.bag.length) suggestTiers();
  validate();
}

/** One click on a bag row: pin that product with the flash-sale form's settings. */
async function pinFromBag(id) {
  if ($("#productSelect").value !== id) {
    $("#productSelect").value = id;
    suggestTiers();
  }
  const [body, problems] = validate();
  if (!body) {
    flash(`Pin: ${problems[0]}`);
    $("#sellCard").scrollIntoView({ block: "nearest" });
    return;
  }
  await sendPin(body);
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
  return bagProduct($("#productSelect").value);
}

// Sensible defaults for a product just picked: a ladder from 90% to 60% of its list price
// and at most 50 of the units it has left.
function suggestTiers() {
  const product = currentProduct();
  if (!product) return;
  const list = product.list_price_cents;
  $("#stock").value = String(Math.max(1, Math.min(50, product.stock_left ?? 50)));
  // Whole yuan from ¥10 up, so the ladder reads ¥53, ¥44, ¥35 rather than ¥53.10, ¥44.25, ¥35.40.
  const step = (cents) => (list >= 1000 ? Math.max(100, Math.round(cents / 100) * 100) : Math.max(1, Math.round(cents)));
  $("#tierRows").replaceChildren(
    tierRow(0, step(list * 0.9)), tierRow(3, step(list * 0.75)), tierRow(10, step(list * 0.6)));
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
  if (!product) problems.push("Choose a product (add one to the bag first).");
  const stock = intField("#stock", "Stock", 1, 1_000_000, problems);
  if (product && stock > (product.stock_left ?? 0) && /^\d+$/.test($("#stock").value.trim())) {
    problems.push(`Stock: only ${Math.max(0, product.stock_left ?? 0)} of ${product.title} are left in the bag.`);
    $("#stock").setAttribute("aria-invalid", "true");
  }
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
  return [{
    product_id: product.id, stock, limit_per_user: limit, starts_in_s: startsIn, duration_s: duration,
    tiers, count, price_protection: $("#protection").checked,
  }, problems];
}

async function submitPin(event) {
  event.preventDefault();
  const [body] = validate();
  if (body) await sendPin(body);
}

async function sendPin(body) {
  $("#pinBtn").disabled = true;
  const pin = await guarded("Pin", () => hostApi("/pins", { method: "POST", body }));
  $("#pinBtn").disabled = false;
  if (pin) {
    state.pin = mergePin(state.pin, pin);
    renderPin();
    renderBag();
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
    renderOrderStates(stats.orders_by_state);
    const states = JSON.stringify(stats.orders_by_state || {});
    if (stats.orders !== state.ordersSeen || stats.refund_cents !== state.refundsSeen || states !== state.statesSeen) {
      state.ordersSeen = stats.orders;
      state.refundsSeen = stats.refund_cents;
      state.statesSeen = states;
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
const productTitle = (o) =>
  o.title || (o.pin ? state.pinTitles.get(o.pin) || o.pin : state.productTitles.get(o.product) || o.product || "?");
const STATES = ["reserved", "confirmed", "cancelled", "expired"];
const STATE_WORDS = { reserved: "reserved", confirmed: "confirmed", cancelled: "cancelled", expired: "expired" };

/** Live order counts by state, from GET …/stats (`orders_by_state`). */
function renderOrderStates(counts) {
  $("#orderStates").hidden = !counts;
  if (!counts) return;
  for (const key of STATES) $(`#count-${key}`).textContent = String(counts[key] ?? 0);
}
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
    title: `Order ${o.id} · buyer ${o.user} · ${o.pin ? `pin ${o.pin} · tier ${o.tier + 1}` : o.auction ? `auction ${o.auction}` : `bag product ${o.product}`} · ${localDateTime(o.ts_ms)}`
      + (o.state === "reserved" && o.pay_by_ms ? ` · pay by ${localDateTime(o.pay_by_ms)}` : ""),
  },
    el("td", { class: "num" }, el("time", { datetime: new Date(o.ts_ms).toISOString() }, timeOfDay(o.ts_ms))),
    el("td", { class: "buyer" }, buyerName(o)),
    el("td", { class: "product" }, productTitle(o)),
    el("td", { class: "num" }, `${o.qty} × ${money(o.unit_price_cents)}`),
    el("td", { class: "num" }, money(o.total_cents)),
    el("td", { class: "state" }, el("span", { class: "ostate", dataset: { state: o.state || "confirmed" } }, STATE_WORDS[o.state] || o.state || "confirmed")),
    el("td", { class: "num" }, o.refund_cents ? money(o.refund_cents) : "–")));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 7, class: "muted empty" }, "No orders yet.")));
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
      if (ev.bag) setBag(ev.bag); // the whole bag: events missed while away are in it
      drops.hello(ev.drop ?? null);
      auctions.hello(ev.auction ?? null);
      renderRoom();
      renderPin();
      return;
    case "chat": return addChat(ev);
    case "chat_deleted":
      for (const node of document.querySelectorAll(`#chat li[data-seq="${ev.target}"]`)) node.remove();
      return;
    case "pin": state.pin = mergePin(state.pin, ev.pin); renderPin(); return renderBag();
    case "product":
      if (ev.removed) return dropProduct(ev.product.id);
      return putProduct(ev.product);
    case "bag_stock": return bagStock(ev.left);
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
      renderBag();
      loadOrders();
      return;
    case "room":
      state.room = { ...state.room, status: ev.status, title: ev.title ?? state.room?.title };
      renderRoom();
      renderPin();
      drops.validate(); // whether the show is live
      return;
    case "drop":
    case "drop_left":
    case "drop_end":
      return drops.event(ev);
    case "auction":
    case "bid":
    case "auction_end":
      return auctions.event(ev);
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
  window.__live = {
    get socket() { return socket; }, state, drop: () => socket.drop(), get drops() { return drops; }, get auctions() { return auctions; },
  };
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
  $("#addProductBtn").addEventListener("click", () => ($("#productForm").hidden ? openProductForm() : closeProductForm()));
  $("#productForm").addEventListener("submit", saveProduct);
  $("#productCancel").addEventListener("click", closeProductForm);
  $("#payForm").addEventListener("submit", savePay);
  $("#settingsForm").addEventListener("submit", saveSettings);
  $("#settingsForm").addEventListener("input", () => { state.settingsDirty = true; renderDescCount(); });
  $("#startsClear").addEventListener("click", () => { $("#startsAt").value = ""; state.settingsDirty = true; $("#settingsSave").focus(); });
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
  drops = new DropsPanel({ call: hostApi, flash, isLive: () => state.room?.status === "live" });
  auctions = new AuctionPanel({ call: hostApi, flash, bag: () => state.bag, exists: () => state.exists, onEnded: loadOrders });
  buildTiles();
  renderBag();
  renderShares([]);
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
    if (snap.bag) setBag(snap.bag);
  } catch (err) {
    if (err.code !== "not_found") flash(errorText(err));
    state.exists = false;
    $("#titleInput").value = new URLSearchParams(location.search).get("title") || "";
  }
  renderRoom();
  renderPin();
  renderBag();
  if (state.exists) {
    connect();
    loadBag();
    loadOrders();
  }
  pollStats();
  setInterval(pollStats, STATS_EVERY_MS);
  pollShares();
  setInterval(pollShares, SHARES_EVERY_MS);
  setInterval(() => { renderPin(); renderModerated(); drops.tick(); auctions.tick(); }, 500);
}

main();
