// The player: /watch/{room}. Video, chat with a bullet screen, likes, the pinned sale, the
// room's bag and my orders (from the server, live over /ws/me), Follow and Share; before the
// show, a preview (countdown, "Remind me", the bag) that turns into the player by itself.
// Drops (red envelopes, coupons) are drops.js's card; my wallet and coupons are wallet.js's;
// live auctions are auction.js's card.
import {
  $, el, api, money, moneyShort, clock, serverNow, timeOfDay, randomId, errorText, CLOSE_WORDS,
  RoomSocket, mergePin, devToken, roomFromPath, signIn,
} from "./client.js";
import { VideoPlayer } from "./video.js";
import { MyOrders, STATE_WORDS, holds, payLeft, payWithinText, stateOf } from "./orders.js";
import { askToNotify, followersText, remindedRooms, setFollow, setReminder, startsText } from "./social.js";
import { DropCard } from "./drops.js";
import { AuctionCard } from "./auction.js";
import { MyWallet, bestChoice, couponChoices, couponState, couponText, netTotal, usableHere } from "./wallet.js";

const room = roomFromPath();
const params = new URLSearchParams(location.search);
const MAX_CHAT_LINES = 150;
const MAX_BULLETS = 24;
// A share link's code (`/watch/{room}?share=CODE`) goes on to the room's WebSocket: the
// server credits the sharer with what this viewer buys (contract §9).
const shareCode = params.get("share");

const state = {
  me: null, // hello.you
  token: null,
  dev: false,
  room: null, // {id, title, status, host, slow_s}
  pin: null,
  mutedUntil: 0,
  viewers: 0,
  likes: 0,
  qty: 1,
  buying: false,
  expanded: false, // the product card on a phone: compact unless the person opened it
  limitHit: new Set(), // pin ids the server answered limit_reached for
  lastPrice: null,
  fatal: null,
  bag: [], // the room's products: hello.bag, then `product` and `bag_stock` events
  buyingProduct: new Set(), // bag product ids with a buy waiting for its answer
  shelfOpen: false, // on a phone the bag is a sheet the person opens; from 900 px it is always there
  tab: "bag",
  pinTitles: new Map(), // pin id -> product title (my orders name their pin)
  titles: new Map(), // "room\tproduct id" -> title, for orders made in other rooms
  followBusy: false,
  reminded: null, // before the show: whether I asked to be reminded (null: not known yet)
  shareUrl: null, // my share link for this room, once asked for
  couponPick: null, // the product card's coupon: null = the best that applies, "" = none, else its id
  bagCheckout: null, // the bag product whose buy waits for a coupon choice (only when I have coupons here)
  bagCoupon: null, // the coupon picked there, as couponPick
  posted: false, // I posted in this show (a drop's chat task)
};

// ---------------------------------------------------------------------------------------
// My orders come from the server (orders.js): the same list in every room, on every device.

let mine = null; // MyOrders, once signed in
const myOrders = () => (mine ? mine.list() : []);
// An order made in this room (orders from a v1 server carry no room: they are this room's).
const here = (o) => !o.room || o.room === room;
function saveFinal(pinId, finalCents) {
  const key = `live.final.${room}`;
  const finals = JSON.parse(localStorage.getItem(key) || "{}");
  finals[pinId] = finalCents;
  localStorage.setItem(key, JSON.stringify(finals));
}
function finalOf(pinId) {
  try { return JSON.parse(localStorage.getItem(`live.final.${room}`) || "{}")[pinId]; } catch { return undefined; }
}
// Units that count toward a limit: those of reserved and confirmed orders only.
const unitsBought = (pinId) => myOrders().filter((o) => here(o) && o.pin === pinId && holds(o)).reduce((n, o) => n + o.qty, 0);
const bagUnitsBought = (productId) =>
  myOrders().filter((o) => here(o) && !o.pin && o.product === productId && holds(o)).reduce((n, o) => n + o.qty, 0);

// ---------------------------------------------------------------------------------------
// Notices: one line under the chat telling the person what happened, in words.

let noticeTimer = null;
function notice(text, { kind = "error", ms = 6000 } = {}) {
  const box = $("#notice");
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(noticeTimer);
  if (ms) noticeTimer = setTimeout(() => { box.hidden = true; }, ms);
}

let bannerTimer = null;
function banner(text, kind = "info") {
  const box = $("#banner");
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  box.classList.remove("show");
  void box.offsetWidth; // restart the animation
  box.classList.add("show");
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => { box.hidden = true; }, 3200);
}

// ---------------------------------------------------------------------------------------
// Header, viewers, likes, hearts.

function renderRoom() {
  const r = state.room;
  if (!r) return;
  document.title = `${r.title} · Live`;
  $("#roomTitle").textContent = r.title;
  $("#hostName").textContent = r.host?.name || "Host";
  $("#hostFollowers").textContent = r.host?.followers === undefined ? "" : followersText(r.host.followers);
  $("#fansSep").hidden = r.host?.followers === undefined;
  $("#hostAvatar").textContent = (r.host?.name || "?").slice(0, 1).toUpperCase();
  $("#posterAvatar").textContent = (r.host?.name || "?").slice(0, 1).toUpperCase();
  const badge = $("#statusBadge");
  badge.dataset.status = r.status;
  badge.textContent = { live: "LIVE", scheduled: "SOON", ended: "ENDED" }[r.status] || r.status;
  renderComposer();
  renderPreview();
  renderFollow();
  video.update();
}

// ---------------------------------------------------------------------------------------
// Follow (the host), Remind me (of a scheduled show), Share (my link for this room).

const unauthorized = () => notice(errorText({ code: "unauthorized" }, { anonymous: true }));

function renderFollow() {
  const host = state.room?.host;
  const isMe = Boolean(state.me && host && state.me.id === host.id);
  const following = Boolean(state.me?.follows_host);
  for (const button of [$("#followBtn"), $("#pvFollow")]) {
    button.hidden = !host?.id || isMe;
    button.setAttribute("aria-pressed", following ? "true" : "false");
    button.textContent = following ? "Following" : "Follow";
    button.disabled = state.followBusy;
  }
  // Before the show the preview's own button stands beside the host: one Follow at a time.
  if (previewing()) $("#followBtn").hidden = true;
  $("#pvFollowers").textContent = followersText(host?.followers);
  drops?.render(); // a follow task says whether it is done
}

async function toggleFollow() {
  const host = state.room?.host;
  if (!host?.id) return;
  if (!state.me) return unauthorized();
  askToNotify(); // a click: the one moment a page may ask
  state.followBusy = true;
  renderFollow();
  try {
    const answer = await setFollow(host.id, !state.me.follows_host, state.token);
    state.me = { ...state.me, follows_host: answer.following };
    state.room = { ...state.room, host: { ...state.room.host, followers: answer.followers } };
    announce(answer.following ? `You follow ${host.name}.` : `You no longer follow ${host.name}.`);
  } catch (err) {
    notice(errorText(err));
  } finally {
    state.followBusy = false;
    renderRoom();
  }
}

const previewing = () => state.room?.status === "scheduled" && !state.fatal;

function renderPreview() {
  const on = previewing();
  $("#preview").hidden = !on;
  $("#poster").dataset.preview = on ? "1" : "0";
  document.body.dataset.preview = on ? "1" : "0";
  if (!on) return;
  const r = state.room;
  const host = r.host?.name || "Host";
  $("#pvAvatar").textContent = host.slice(0, 1).toUpperCase();
  $("#pvHost").textContent = host;
  $("#pvTitle").textContent = r.title;
  $("#pvDesc").textContent = r.description || "";
  $("#pvDesc").hidden = !r.description;
  renderPreviewClock();
  const remind = $("#pvRemind");
  remind.setAttribute("aria-pressed", state.reminded ? "true" : "false");
  remind.textContent = state.reminded ? "✓ Reminder set" : "Remind me";
  // The bag, to look at before the show (buying opens when it starts).
  $("#pvBagBox").hidden = state.bag.length === 0;
  $("#pvBagCount").textContent = `(${state.bag.length})`;
  $("#pvBag").replaceChildren(...state.bag.map((p) => el("li", { class: "pv-item", dataset: { product: p.id } },
    el("img", { src: p.image_url || "/static/img/product.svg", alt: "", loading: "lazy" }),
    el("span", { class: "pv-item-title" }, p.title),
    el("span", { class: "pv-item-price" }, money(p.list_price_cents)))));
}

function renderPreviewClock() {
  if (previewing()) $("#pvCountdown").textContent = startsText(state.room.starts_at_ms);
}

async function loadReminder() {
  if (!state.token || state.reminded !== null || !previewing()) return;
  try {
    const rooms = await remindedRooms(state.token);
    state.reminded = rooms.has(room);
    renderPreview();
  } catch {
    // the button says "Remind me"; a tap sets it either way
  }
}

async function toggleReminder() {
  if (!state.me) return unauthorized();
  askToNotify();
  const button = $("#pvRemind");
  button.disabled = true;
  try {
    const answer = await setReminder(room, !state.reminded, state.token);
    state.reminded = answer.reminded;
    notice(answer.reminded ? "Reminder set: you'll hear when the show starts." : "Reminder off.", { kind: "ok", ms: 3000 });
  } catch (err) {
    notice(err.code === "conflict" ? "The show is not scheduled any more." : errorText(err));
  } finally {
    button.disabled = false;
    renderPreview();
  }
}

async function share() {
  if (!state.me) {
    notice("Sign in to share: your link credits you with what your friends buy.");
    return;
  }
  try {
    if (!state.shareUrl) {
      const answer = await api(`/api/rooms/${encodeURIComponent(room)}/shares`, { method: "POST", token: state.token });
      state.shareUrl = answer.url;
    }
  } catch (err) {
    notice(errorText(err));
    return;
  }
  const url = state.shareUrl;
  const title = state.room?.title || "Live shopping";
  if (navigator.share) { // phones: the system's share sheet
    try {
      await navigator.share({ title, text: `${title}: live now`, url });
      return;
    } catch (err) {
      if (err?.name === "AbortError") return; // the person closed the sheet
    }
  }
  try {
    await navigator.clipboard.writeText(url);
    notice(`Link copied: ${url}`, { kind: "ok" });
  } catch {
    notice(`Copy this link to share: ${url}`, { kind: "ok", ms: 0 }); // no clipboard here: show it
  }
}

function renderPoster() {
  const r = state.room;
  const poster = $("#poster");
  let title = r?.title || "Live";
  let text = "Connecting to the room…";
  if (state.fatal) {
    title = "Can't watch this room";
    text = state.fatal;
  } else if (r) {
    if (r.status === "scheduled") text = `${r.host?.name || "The host"} will be live soon. Stay tuned!`;
    else if (r.status === "ended") text = "The show has ended. Thanks for watching!";
    else if (video.state === "playing") text = "";
    else if (video.state === "connecting") text = "Live now: connecting the video…";
    else text = `${r.host?.name || "The host"} is live. Waiting for the camera…`;
  }
  $("#posterTitle").textContent = title;
  $("#posterText").textContent = text;
  // An ended show keeps selling in its replay (/replay/{room}: the recording, its moments, the bag).
  const replay = $("#posterReplay");
  replay.hidden = !(r?.status === "ended" && !state.fatal);
  if (!replay.hidden) replay.href = `/replay/${encodeURIComponent(room)}`;
  poster.dataset.state = state.fatal ? "fatal" : (r?.status || "loading");
  poster.hidden = video.state === "playing" && r?.status === "live" && !state.fatal;
}

function setViewers(n) {
  state.viewers = n;
  $("#viewerCount").textContent = compact(n);
}

function compact(n) {
  if (n >= 10_000) return `${(n / 1000).toFixed(0)}k`;
  if (n >= 1000) return `${(n / 1000).toFixed(1)}k`;
  return String(n);
}

const HEART_COLORS = ["#ff2d55", "#ff9f0a", "#ffd60a", "#30d158", "#64d2ff", "#bf5af2", "#ff375f"];
function floatHeart() {
  const layer = $("#hearts");
  if (layer.childElementCount > 30) return;
  const heart = el("span", { class: "heart" }, "♥");
  heart.style.color = HEART_COLORS[Math.floor(Math.random() * HEART_COLORS.length)];
  layer.append(heart);
  const drift = (Math.random() - 0.5) * 80;
  const anim = heart.animate(
    [
      { transform: "translate(0, 0) scale(0.6)", opacity: 0 },
      { transform: `translate(${drift * 0.3}px, -40px) scale(1.1)`, opacity: 1, offset: 0.15 },
      { transform: `translate(${drift}px, -260px) scale(0.9)`, opacity: 0 },
    ],
    { duration: 1600 + Math.random() * 600, easing: "ease-out" },
  );
  anim.onfinish = () => heart.remove();
}

function setLikes(total, fromOthers = true) {
  const delta = total - state.likes;
  state.likes = Math.max(state.likes, total);
  $("#likes").textContent = compact(state.likes);
  if (fromOthers && delta > 0) for (let i = 0; i < Math.min(delta, 6); i++) setTimeout(floatHeart, i * 120);
}

// Taps are summed and sent at most every 300 ms as one {"t":"like","n":1..10}.
let likeBuffer = 0;
let likeTimer = null;
function tapLike() {
  if (!state.me) {
    notice(errorText({ code: "unauthorized" }, { anonymous: true }));
    return;
  }
  floatHeart();
  likeBuffer += 1;
  state.likes += 1; // shown at once; the server's total follows
  $("#likes").textContent = compact(state.likes);
  if (!likeTimer) likeTimer = setTimeout(flushLikes, 300);
}
function flushLikes() {
  likeTimer = null;
  while (likeBuffer > 0) {
    const n = Math.min(10, likeBuffer);
    likeBuffer -= n;
    socket.send({ t: "like", n });
  }
}

// ---------------------------------------------------------------------------------------
// Chat list and bullet screen.

function chatLine(ev) {
  const mine = state.me && ev.user?.id === state.me.id;
  const isHost = state.room && ev.user?.id === state.room.host?.id;
  return el(
    "li",
    { class: `line${mine ? " mine" : ""}${isHost ? " host" : ""}`, dataset: { seq: ev.seq, user: ev.user?.id } },
    isHost ? el("span", { class: "tag" }, "Host") : null,
    el("b", { class: "who" }, ev.user?.name || "?"),
    el("span", { class: "sr-only" }, ": "), // read as "Lin: hello", not "Linhello"
    el("span", { class: "text" }, ev.text),
  );
}

function addChat(ev, { fly = true } = {}) {
  const list = $("#chat");
  if (list.querySelector(`li[data-seq="${ev.seq}"]`)) return; // never show a line twice
  if (state.me && ev.user?.id === state.me.id && !state.posted) { state.posted = true; drops?.render(); }
  list.append(chatLine(ev));
  trimChat(list);
  follow.added(list);
  if (fly) bullet(ev);
}

function systemLine(text) {
  const list = $("#chat");
  list.append(el("li", { class: "line sys" }, text));
  trimChat(list);
  follow.added(list);
  announce(text);
}

function trimChat(list) {
  while (list.childElementCount > MAX_CHAT_LINES) list.firstElementChild.remove();
}

// The chat follows its newest line unless the person scrolled up to read. Whether it follows
// is decided by what the person did (scrolled up, or back to the bottom), never by measuring
// the distance to the bottom when a line comes in: the list also shrinks by itself (the
// product card appears above it, a picture loads), and that is no reason to stop following.
const follow = {
  on: true,
  lastTop: 0,
  init(list) {
    list.addEventListener("scroll", () => {
      if (this.atBottom(list)) this.set(true);
      else if (list.scrollTop < this.lastTop - 1) this.set(false);
      this.lastTop = list.scrollTop;
    }, { passive: true });
    new ResizeObserver(() => { if (this.on) this.toBottom(list); }).observe(list);
    $("#newLines").addEventListener("click", () => { this.set(true); this.toBottom(list); });
  },
  atBottom: (list) => list.scrollHeight - list.scrollTop - list.clientHeight < 8,
  toBottom(list) {
    list.scrollTop = list.scrollHeight;
    this.lastTop = list.scrollTop;
  },
  set(on) {
    this.on = on;
    if (on) $("#newLines").hidden = true;
  },
  added(list) {
    if (this.on) this.toBottom(list);
    else $("#newLines").hidden = false;
  },
};

// Screen readers hear what concerns the person (a price drop, the end of the sale, their own
// post refused), not every line of the crowd: the chat list itself is not a live region.
let announceTimer = null;
function announce(text) {
  const box = $("#announce");
  box.textContent = "";
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { box.textContent = text; }, 50); // a change is what is read
}

function removeChat(seq) {
  for (const node of document.querySelectorAll(`[data-seq="${seq}"]`)) node.remove();
}

// The bullet screen. Every bullet moves at the same speed (px per ms, from the layer's
// width), so one that enters a lane after another never catches up with it, however long
// either is. A lane takes the next bullet once the last one has fully entered plus a gap;
// when no lane is free a line waits a little (then is dropped: it is in the list anyway).
const LANE_PX = 30;
const LANE_GAP_PX = 28;
const CROSS_MS = 6500; // the time a bullet takes to cross the layer's width
const MAX_LANES = { phone: 3, desktop: 4 };
const BULLET_WAIT_MS = 4000;
const laneFreeAt = [];
const bulletQueue = [];
let bulletTimer = null;

const bulletsOn = () => localStorage.getItem("live.bullets") !== "off";

function laneCount(layer) {
  const cap = innerWidth >= 900 ? MAX_LANES.desktop : MAX_LANES.phone;
  return Math.max(1, Math.min(cap, Math.floor((layer.clientHeight || LANE_PX * cap) / LANE_PX)));
}

function bullet(ev) {
  if (!bulletsOn() || document.hidden) return;
  bulletQueue.push({ ev, at: performance.now() });
  if (bulletQueue.length > MAX_BULLETS) bulletQueue.shift();
  pumpBullets();
}

function pumpBullets() {
  clearTimeout(bulletTimer);
  bulletTimer = null;
  const layer = $("#bullets");
  const now = performance.now();
  while (bulletQueue.length && now - bulletQueue[0].at > BULLET_WAIT_MS) bulletQueue.shift();
  const lanes = laneCount(layer);
  while (bulletQueue.length) {
    let lane = -1;
    for (let i = 0; i < lanes; i++) if ((laneFreeAt[i] || 0) <= now) { lane = i; break; }
    if (lane < 0) break;
    fly(layer, bulletQueue.shift().ev, lane, now);
  }
  if (bulletQueue.length) {
    const soonest = Math.min(...Array.from({ length: lanes }, (_, i) => laneFreeAt[i] || 0));
    bulletTimer = setTimeout(pumpBullets, Math.max(16, soonest - now));
  }
}

function fly(layer, ev, lane, now) {
  const mine = state.me && ev.user?.id === state.me.id;
  const node = el("div", { class: `bullet${mine ? " mine" : ""}`, dataset: { seq: ev.seq, lane } },
    el("b", {}, `${ev.user?.name || "?"}: `), ev.text);
  layer.append(node);
  node.style.top = `${lane * LANE_PX}px`;
  const width = layer.clientWidth || 360;
  const w = node.offsetWidth;
  const speed = width / CROSS_MS; // px per ms, the same for every bullet in this layer
  laneFreeAt[lane] = now + (w + LANE_GAP_PX) / speed;
  const anim = node.animate(
    [{ transform: `translateX(${width}px)` }, { transform: `translateX(${-w - 10}px)` }],
    { duration: (width + w + 10) / speed, easing: "linear" },
  );
  // Anchored to the time the lane was given out, not to whenever a busy page paints its next
  // frame: otherwise a bullet that starts late closes the gap to the one behind it.
  anim.startTime = now;
  anim.onfinish = () => node.remove();
}

function setBullets(on) {
  localStorage.setItem("live.bullets", on ? "on" : "off");
  $("#bulletsBtn").setAttribute("aria-pressed", on ? "true" : "false");
  $("#bullets").hidden = !on;
  if (!on) {
    bulletQueue.length = 0;
    $("#bullets").replaceChildren();
    laneFreeAt.length = 0;
  }
}

// ---------------------------------------------------------------------------------------
// Composer: who I am, mute, slow mode, sending.

function renderComposer() {
  const input = $("#chatInput");
  const send = $("#send");
  const muted = state.mutedUntil > serverNow();
  const ended = state.room?.status === "ended";
  input.disabled = muted || ended || Boolean(state.fatal);
  send.disabled = input.disabled;
  if (state.fatal) input.placeholder = "Chat is unavailable";
  else if (ended) input.placeholder = "The show has ended";
  // Placeholders are short enough for a 320 px phone; the notice says the rest in full.
  else if (muted) input.placeholder = `Muted until ${timeOfDay(state.mutedUntil).slice(0, 5)}`;
  else if (!state.me) input.placeholder = "Sign in to chat";
  else if (state.room?.slow_s && state.me.role === "viewer") input.placeholder = `Slow mode: every ${state.room.slow_s} s`;
  else input.placeholder = "Say something…";
  const chip = $("#nameBtn");
  chip.hidden = !state.dev;
  chip.textContent = state.me ? state.me.name : "Guest";
}

// The server's rule: 1-200 characters after trimming, counted as characters (code points),
// not UTF-16 units, so 200 emoji are fine. Said while typing, not after sending.
const CHAT_MAX = 200;
const chatLength = () => [...$("#chatInput").value.trim()].length;
const chatTooLong = () => chatLength() > CHAT_MAX;

function renderCount() {
  const n = chatLength();
  const box = $("#chatCount");
  box.hidden = n <= CHAT_MAX - 50;
  box.textContent = `${n}/${CHAT_MAX}`;
  box.dataset.over = n > CHAT_MAX ? "1" : "";
  $("#chatInput").setAttribute("aria-invalid", n > CHAT_MAX ? "true" : "false");
  // aria-disabled, not disabled: Enter still submits, and the submit says what is wrong.
  $("#send").setAttribute("aria-disabled", n > CHAT_MAX ? "true" : "false");
}

async function sendChat(event) {
  event.preventDefault();
  const input = $("#chatInput");
  const text = input.value.trim();
  if (!text) return;
  if (chatTooLong()) {
    notice(errorText({ code: "too_long" }));
    return;
  }
  if (state.mutedUntil > serverNow()) {
    notice(errorText({ code: "muted" }, { mutedUntilMs: state.mutedUntil }));
    return;
  }
  input.value = "";
  renderCount();
  const answer = await socket.request({ t: "chat", id: randomId("c-"), text });
  if (answer.t === "error") {
    if (!input.value) input.value = text; // give the words back so nothing is lost
    renderCount();
    if (answer.code === "closed") return; // the close itself is told in words (banned, …)
    if (answer.code === "muted" && answer.retry_after_ms) {
      state.mutedUntil = serverNow() + answer.retry_after_ms;
      renderComposer();
    }
    notice(errorText(answer, { action: "chat", anonymous: !state.me, mutedUntilMs: state.mutedUntil }));
  }
}

// ---------------------------------------------------------------------------------------
// Coupons at buy: mine, of this room, unused and unexpired (the rules are wallet.js's; the
// server has the last word and answers `coupon_invalid` when it disagrees).

let wallet = null; // MyWallet, once signed in
const myCoupons = () => (wallet ? usableHere(wallet.coupons, room) : []);

/** The coupon for an order of totalCents: the person's pick, else the best one that applies. */
function pickFor(totalCents, pick) {
  const choices = couponChoices(myCoupons(), totalCents);
  let chosen = null;
  if (pick === null) chosen = bestChoice(choices);
  else if (pick) chosen = choices.find((c) => c.coupon.id === pick && c.ok) || null;
  return { choices, chosen };
}

/**
 * Fill a coupon <select>: "No coupon", then each coupon; one whose minimum is above this
 * order's total is disabled with the reason. Rebuilt only when what it offers changed, so a
 * list the person has open is not closed under their finger by a tick or a stock event.
 */
function fillCouponSelect(select, choices, chosen, totalCents) {
  const sig = JSON.stringify([totalCents, chosen?.coupon.id ?? "", choices.map((c) => [c.coupon.id, c.ok])]);
  if (select.dataset.sig === sig) return;
  select.dataset.sig = sig;
  select.replaceChildren(
    el("option", { value: "" }, "No coupon"),
    ...choices.map((c) => el("option", { value: c.coupon.id, disabled: !c.ok },
      c.ok ? couponText(c.coupon) : `${couponText(c.coupon)}: not for this order (${money(totalCents)})`)));
  select.value = chosen ? chosen.coupon.id : "";
}

/** An order's discount in words, for the notices: " − ¥5.00 coupon = ¥20.00". */
const discountText = (order) => (order.discount_cents > 0 ? ` − ${money(order.discount_cents)} coupon = ${money(order.total_cents)}` : "");

// ---------------------------------------------------------------------------------------
// The pinned product.

function displayState(pin) {
  if (!pin) return "none";
  if (state.room?.status === "ended") return "ended"; // the end of the show ends every sale
  const now = serverNow();
  if (pin.state === "ended" || pin.state === "sold_out") return pin.state;
  if (now >= pin.ends_at_ms) return "ended";
  if (pin.state === "upcoming" && now < pin.starts_at_ms) return "upcoming";
  if (pin.stock_left <= 0) return "sold_out";
  return "live";
}

function renderPin({ priceDropped = false } = {}) {
  const pin = state.pin;
  const card = $("#product");
  if (!pin) {
    card.hidden = true;
    return;
  }
  card.hidden = false;
  state.pinTitles.set(pin.id, pin.product.title);
  if (card.dataset.pin !== pin.id) state.expanded = false; // a new pin starts compact
  card.dataset.pin = pin.id;
  const shown = displayState(pin);
  if (shown === "ended" && card.dataset.state !== "ended") state.expanded = false; // an ended sale folds away
  card.dataset.state = shown;
  renderExpanded();
  const img = $("#productImg");
  const src = pin.product.image_url || "/static/img/product.svg";
  if (img.getAttribute("src") !== src) img.setAttribute("src", src);
  img.alt = pin.product.title;
  $("#productTitle").textContent = pin.product.title;
  const now = $("#priceNow");
  now.textContent = money(pin.price_cents);
  $("#priceList").textContent = pin.product.list_price_cents > pin.price_cents ? money(pin.product.list_price_cents) : "";
  const off = pin.product.list_price_cents - pin.price_cents;
  $("#priceOff").textContent = off > 0 ? `-${Math.round((off / pin.product.list_price_cents) * 100)}%` : "";
  if (priceDropped) {
    now.classList.remove("price-fall");
    void now.offsetWidth;
    now.classList.add("price-fall");
  }
  renderLadder(pin);
  const left = Math.max(0, pin.stock_left);
  $("#stock").textContent = left > 0 ? `${left} of ${pin.stock_total} left` : "None left";
  $("#stockFill").style.width = `${pin.stock_total ? (left / pin.stock_total) * 100 : 0}%`;
  $("#stockFill").dataset.low = left <= Math.max(1, pin.stock_total * 0.2) ? "1" : "";
  renderCountdown();
  renderBuy();
  renderMine();
}

// On a phone the card is compact (title, price, next tier, buy) so the video stays in
// view; a tap on it, or on its arrow, shows the ladder, stock and clock. From 900 px wide
// the side column has room and the card is always whole (CSS).
function renderExpanded() {
  const card = $("#product");
  const open = state.expanded && card.dataset.state !== "ended";
  card.dataset.expanded = open ? "1" : "0";
  $("#productToggle").setAttribute("aria-expanded", open ? "true" : "false");
}

function toggleCard(event) {
  if (event.target.closest(".buy-row, .coupon-row, .my-orders")) return; // buying is not a toggle
  if ($("#product").dataset.state === "ended") return;
  state.expanded = !state.expanded;
  renderExpanded();
}

function renderLadder(pin) {
  // Steps are evenly spaced (a ladder, not a scale); the fill moves within the current step.
  const tiers = pin.tiers || [];
  const unit = pin.count_mode === "posts" ? "posts" : "posters";
  const steps = $("#ladderSteps");
  steps.replaceChildren();
  const last = tiers.length - 1;
  const crowded = tiers.length > 5;
  tiers.forEach((tier, i) => {
    const reached = i <= pin.tier;
    const labelled = !crowded || i === 0 || i === last || i === pin.tier || i === pin.tier + 1;
    steps.append(el("li", {
      class: `step${reached ? " reached" : ""}${i === pin.tier ? " current" : ""}${labelled ? "" : " quiet"}`,
      style: { left: `${last > 0 ? (i / last) * 100 : 0}%` },
      title: `from ${tier.at} ${unit}: ${money(tier.price_cents)}`,
    }, el("span", { class: "step-price" }, moneyShort(tier.price_cents))));
  });
  $("#ladder").hidden = tiers.length < 2;
  let fill = 100;
  if (last > 0 && pin.tier < last) {
    const from = tiers[pin.tier].at, to = tiers[pin.tier + 1].at;
    const within = Math.min(1, Math.max(0, (pin.count - from) / Math.max(1, to - from)));
    fill = ((pin.tier + within) / last) * 100;
  }
  $("#ladderFill").style.width = `${fill}%`;
  const next = tiers[pin.tier + 1];
  const box = $("#nextTier");
  const shown = displayState(pin);
  if (tiers.length < 2) {
    box.textContent = "";
  } else if (next && (shown === "live" || shown === "upcoming")) {
    const more = Math.max(1, next.at - pin.count);
    const noun = pin.count_mode === "posts" ? (more === 1 ? "post" : "posts") : (more === 1 ? "poster" : "posters");
    box.textContent = `${more} more ${noun} to reach ${money(next.price_cents)}`;
    box.title = pin.count_mode === "posts"
      ? "Every chat line counts toward the next price."
      : "Every person who chats counts once toward the next price.";
  } else if (shown === "ended") {
    box.textContent = `Final price ${money(pin.price_cents)} · ${pin.count} ${unit}`;
  } else if (!next) {
    box.textContent = `Lowest price reached · ${pin.count} ${unit}`;
  } else {
    box.textContent = `${pin.count} ${unit}`;
  }
}

function renderCountdown() {
  const pin = state.pin;
  if (!pin) return;
  const now = serverNow();
  const shown = displayState(pin);
  const box = $("#countdown");
  // Before the start the buy button carries the countdown (said once, not twice); a sold-out
  // sale has nothing left to count down to.
  if (shown === "upcoming" || shown === "sold_out") box.textContent = "";
  else if (shown === "live") box.textContent = `Ends in ${clock(pin.ends_at_ms - now)}`;
  else box.textContent = "Sale over";
  box.dataset.urgent = shown === "live" && pin.ends_at_ms - now < 30_000 ? "1" : "";
}

function renderBuy() {
  const pin = state.pin;
  const button = $("#buy");
  const qtyBox = $("#qtyBox");
  if (!pin) return;
  const shown = displayState(pin);
  const bought = unitsBought(pin.id);
  const allowed = Math.max(0, pin.limit_per_user - bought); // units I may still buy
  const limitHit = state.limitHit.has(pin.id) || allowed === 0;
  let label, key, enabled = false;
  if (state.buying) { label = "Buying…"; key = "buying"; }
  else if (shown === "upcoming") { label = `Starts in ${clock(pin.starts_at_ms - serverNow())}`; key = "upcoming"; }
  else if (shown === "sold_out") { label = bought ? `Sold out · you got ${bought}` : "Sold out"; key = "sold_out"; }
  else if (shown === "ended") { label = bought ? `Ended · you bought ${bought}` : "Sale ended"; key = "ended"; }
  else if (limitHit) { label = `Limit reached (${bought || pin.limit_per_user}/${pin.limit_per_user})`; key = "limit"; }
  else {
    enabled = true;
    key = bought ? "bought" : "buy";
    const qty = Math.min(state.qty, allowed);
    const total = pin.price_cents * qty;
    const { chosen } = pickFor(total, state.couponPick);
    const net = netTotal(total, chosen?.coupon);
    label = bought ? `Buy more · ${money(net)}` : `Buy now · ${money(net)}`;
  }
  renderCouponRow(pin, enabled ? pin.price_cents * Math.min(state.qty, allowed) : 0, enabled);
  button.textContent = label;
  button.dataset.state = key;
  // aria-disabled rather than disabled: a disabled button drops the keyboard focus, and
  // after "Buying…" the focus must still be where the person left it.
  button.setAttribute("aria-disabled", enabled ? "false" : "true");
  state.qty = Math.max(1, Math.min(state.qty, allowed || 1));
  qtyBox.hidden = !enabled || allowed < 2;
  $("#qty").textContent = String(state.qty);
}

// The product card's coupon picker: shown while I can buy and have coupons of this room.
function renderCouponRow(pin, total, enabled) {
  const row = $("#couponRow");
  row.hidden = !enabled || !myCoupons().length;
  if (row.hidden) return;
  const { choices, chosen } = pickFor(total, state.couponPick);
  fillCouponSelect($("#couponPick"), choices, chosen, total);
  $("#couponOff").textContent = chosen ? `−${money(Math.min(chosen.coupon.value_cents, total))}` : "";
}

function renderMine() {
  const pin = state.pin;
  const box = $("#mine");
  const orders = pin ? myOrders().filter((o) => here(o) && o.pin === pin.id).reverse() : [];
  if (!orders.length) {
    box.hidden = true;
    box.replaceChildren();
    return;
  }
  box.hidden = false;
  const final = pin.state === "ended" ? (finalOf(pin.id) ?? pin.price_cents) : null;
  const rows = orders.map((o) => el("li", { class: "order", dataset: { order: o.id, state: stateOf(o) }, title: `Order ${o.id}` },
    el("span", {}, `${o.qty} × ${money(o.unit_price_cents)}`),
    o.discount_cents > 0 ? el("span", { class: "order-coupon" }, `coupon −${money(o.discount_cents)}`) : null,
    el("span", { class: "order-id" }, `#${o.id.slice(-6)}`),
    el("span", { class: "order-state", dataset: { state: stateOf(o) } }, orderStateText(o)),
    el("b", {}, money(o.total_cents))));
  const held = orders.filter(holds); // a cancelled or expired order is owed nothing
  const paid = held.reduce((n, o) => n + o.total_cents, 0);
  let refundLine = null;
  if (final !== null && pin.price_protection && held.length) {
    const refund = held.reduce((n, o) => n + Math.max(0, o.unit_price_cents - final) * o.qty, 0);
    refundLine = el("div", { class: "refund", dataset: { cents: refund } },
      refund > 0
        ? `Price protection: the sale ended at ${money(final)}, so ${money(refund)} will be refunded to you.`
        : `The sale ended at ${money(final)}: you already paid the lowest price.`);
  } else if (pin.price_protection) {
    refundLine = el("div", { class: "refund pending" },
      "Price protection: if the price falls further, you get the difference back.");
  }
  box.replaceChildren(
    el("div", { class: "my-orders-head" }, `Your order${orders.length > 1 ? "s" : ""}`,
      el("span", {}, held.some((o) => stateOf(o) === "reserved") ? `to pay ${money(paid)}` : `paid ${money(paid)}`)),
    el("ul", {}, rows), refundLine);
}

async function buy() {
  const pin = state.pin;
  if (!pin || state.buying || $("#buy").getAttribute("aria-disabled") === "true") return;
  if (!state.me) {
    notice(errorText({ code: "unauthorized" }, { anonymous: true }));
    return;
  }
  const qty = state.qty;
  const { chosen } = pickFor(pin.price_cents * qty, state.couponPick);
  const frame = { t: "buy", id: randomId("b-"), pin: pin.id, qty };
  if (chosen) frame.coupon = chosen.coupon.id;
  state.buying = true;
  renderBuy();
  // resend: if the socket drops before the answer, the same id goes out again after the
  // reconnect and the server answers with the same order (never a second one).
  const answer = await socket.request(frame, { resend: true });
  state.buying = false;
  if (answer.t === "ack" && answer.order) {
    mine?.put({ room, ...answer.order });
    if (answer.order.coupon) wallet?.used(answer.order.coupon, answer.order.id);
    state.qty = 1;
    state.couponPick = null;
    notice(placedText(answer.order), { kind: "ok" });
  } else {
    if (answer.code === "coupon_invalid") { state.couponPick = null; wallet?.loadCoupons(); }
    if (answer.code === "limit_reached") state.limitHit.add(pin.id);
    if (answer.code === "sold_out" && state.pin?.id === pin.id) state.pin = mergePin(state.pin, { ...state.pin, state: "sold_out", stock_left: 0 });
    if (answer.code === "ended" && state.pin?.id === pin.id) state.pin = mergePin(state.pin, { ...state.pin, state: "ended" });
    notice(errorText(answer, { action: "buy", limit: pin.limit_per_user, anonymous: !state.me }));
  }
  renderPin();
}

// ---------------------------------------------------------------------------------------
// Order words: a reserved order counts down to its pay_by_ms.

function orderStateText(o, now = serverNow()) {
  const left = payLeft(o, now);
  if (left !== null) return payWithinText(left);
  return STATE_WORDS[stateOf(o)] || stateOf(o);
}

function placedText(order) {
  const what = `${order.qty} × ${money(order.unit_price_cents)}${discountText(order)}`;
  const left = payLeft(order);
  if (left !== null) return `Reserved: ${what}. ${payWithinText(left)} to keep it.`;
  return `Order placed: ${what}. Thank you!`;
}

function orderTitle(o) {
  if (o.title) return o.title; // the server records it with the order
  if (o.pin) {
    const title = state.pinTitles.get(o.pin) || (state.pin?.id === o.pin ? state.pin.product.title : null);
    if (title) return title;
  }
  if (o.product) {
    const inBag = here(o) ? state.bag.find((p) => p.id === o.product) : null;
    const title = inBag?.title || state.titles.get(`${o.room}\t${o.product}`);
    if (title) return title;
    if (!here(o)) learnTitles(o.room);
    return o.product;
  }
  return "Flash sale";
}

// Orders from other rooms name a product of that room's bag: its title is read once per room.
const titlesAsked = new Set();
async function learnTitles(otherRoom) {
  if (!otherRoom || titlesAsked.has(otherRoom)) return;
  titlesAsked.add(otherRoom);
  try {
    const body = await api(`/api/rooms/${encodeURIComponent(otherRoom)}/products`);
    for (const p of body.products || []) state.titles.set(`${otherRoom}\t${p.id}`, p.title);
    renderOrders();
  } catch { /* the id stays */ }
}

/** A change that arrived live (not the first load): say it once, in words. */
function orderChanged(order, before) {
  if (!before || stateOf(before) === stateOf(order)) return;
  const title = orderTitle(order);
  const s = stateOf(order);
  if (s === "confirmed") notice(`Payment received: ${title} is yours. Thank you!`, { kind: "ok" });
  else if (s === "expired") notice(`Not paid in time: your reservation of ${title} has expired.`);
  else if (s === "cancelled") notice(`Your order of ${title} was cancelled.`);
  announce($("#notice").textContent);
}

// ---------------------------------------------------------------------------------------
// The bag: the room's products at list price while the show is live. On a phone it is a
// sheet opened from the bag button (the pinned sale stays on top); from 900 px wide it is
// always in the side column, under the pinned sale.

function setBag(products) {
  state.bag = (products || []).map((p) => ({ ...p }));
  renderBag();
}

function putProduct(product) {
  const i = state.bag.findIndex((p) => p.id === product.id);
  if (i >= 0) state.bag[i] = { ...state.bag[i], ...product };
  else state.bag.push({ ...product });
  renderBag();
}

function bagStock(left) {
  for (const [id, n] of Object.entries(left || {})) {
    const p = state.bag.find((x) => x.id === id);
    if (p) p.stock_left = n;
  }
  renderBag();
}

function bagButton(p) {
  const left = Math.max(0, p.stock_left ?? 0);
  const bought = bagUnitsBought(p.id);
  const live = state.room?.status === "live";
  if (state.buyingProduct.has(p.id)) return ["Buying…", "buying", false];
  if (left <= 0) return ["Sold out", "sold_out", false];
  if (bought >= p.limit_per_user) return [`Limit reached (${bought}/${p.limit_per_user})`, "limit", false];
  if (!live) return [state.room?.status === "ended" ? "Show ended" : "Not live yet", "not_live", false];
  return ["Buy", "buy", true]; // the price is beside it
}

function stockText(p) {
  const left = Math.max(0, p.stock_left ?? 0);
  if (left <= 0) return "None left";
  if (left <= 5) return `Only ${left} left`;
  return `${left} left`;
}

function renderBag() {
  const pinned = state.pin && displayState(state.pin) !== "ended" ? state.pin.product?.id : null;
  const items = state.bag.map((p) => {
    const [label, key, enabled] = bagButton(p);
    const bought = bagUnitsBought(p.id);
    return el("li", { class: "bag-item", dataset: { product: p.id } },
      el("img", { src: p.image_url || "/static/img/product.svg", alt: "", loading: "lazy" }),
      el("div", { class: "bag-text" },
        el("div", { class: "bag-title" }, p.title),
        el("div", { class: "bag-meta" },
          el("b", { class: "bag-price" }, money(p.list_price_cents)),
          el("span", { class: "bag-stock", dataset: { low: (p.stock_left ?? 0) <= 5 ? "1" : "" } }, stockText(p)),
          pinned === p.id ? el("span", { class: "bag-tag" }, "On flash sale ↑") : null,
          bought ? el("span", { class: "bag-mine" }, `you have ${bought}`) : null)),
      el("button", {
        type: "button", class: "bag-buy", dataset: { state: key }, "aria-disabled": enabled ? "false" : "true",
        "aria-label": key === "buy" ? `Buy ${p.title} for ${money(p.list_price_cents)}` : `${label}: ${p.title}`,
        onclick: () => buyProduct(p.id),
      }, label),
      state.bagCheckout === p.id && key === "buy" ? checkoutRow(p) : null);
  });
  if (!items.length) items.push(el("li", { class: "empty" }, "Nothing in the bag yet."));
  $("#bagList").replaceChildren(...items);
  $("#bagCount").textContent = state.bag.length ? String(state.bag.length) : "";
  $("#bagN").textContent = String(state.bag.length);
  $("#bagN").hidden = !state.bag.length;
  renderShelf();
  renderPreview();
}

// With coupons of this room, a bag buy first asks which one (or none): a row under the
// product with the picker and the price it makes. The node is kept while it is the same
// product's, so a stock event re-drawing the bag does not close a list the person has open.
let checkoutNode = null;
function checkoutRow(p) {
  const total = p.list_price_cents;
  const { choices, chosen } = pickFor(total, state.bagCoupon);
  if (checkoutNode?.dataset.product !== p.id) {
    const select = el("select", { id: "bagCoupon", class: "coupon-pick", "aria-label": `Coupon for ${p.title}` });
    select.addEventListener("change", () => { state.bagCoupon = select.value; renderBag(); });
    checkoutNode = el("div", { class: "bag-checkout", dataset: { product: p.id } },
      el("label", { for: "bagCoupon" }, "Coupon"), select,
      el("button", { type: "button", class: "bag-confirm", onclick: () => buyProduct(p.id) }, ""),
      el("button", {
        type: "button", class: "ghost bag-cancel", "aria-label": "Not now",
        onclick: () => { state.bagCheckout = null; renderBag(); },
      }, "✕"));
  }
  fillCouponSelect($("select", checkoutNode), choices, chosen, total);
  $(".bag-confirm", checkoutNode).textContent = `Buy · ${money(netTotal(total, chosen?.coupon))}`;
  return checkoutNode;
}

async function buyProduct(productId) {
  const p = state.bag.find((x) => x.id === productId);
  if (!p || state.buyingProduct.has(productId)) return;
  if (!state.me) {
    notice(errorText({ code: "unauthorized" }, { anonymous: true }));
    return;
  }
  const [, key] = bagButton(p);
  if (key === "not_live") { notice(errorText({ code: "not_live" })); return; }
  if (key !== "buy") return;
  if (myCoupons().length && state.bagCheckout !== productId) {
    state.bagCheckout = productId; // first the coupon, then the buy
    state.bagCoupon = null;
    renderBag();
    checkoutNode?.querySelector("select")?.focus();
    return;
  }
  const frame = { t: "buy", id: randomId("b-"), product: productId, qty: 1 };
  if (state.bagCheckout === productId) {
    const { chosen } = pickFor(p.list_price_cents, state.bagCoupon);
    if (chosen) frame.coupon = chosen.coupon.id;
  }
  state.bagCheckout = null;
  state.buyingProduct.add(productId);
  renderBag();
  const answer = await socket.request(frame, { resend: true });
  state.buyingProduct.delete(productId);
  if (answer.t === "ack" && answer.order) {
    mine?.put({ room, ...answer.order });
    if (answer.order.coupon) wallet?.used(answer.order.coupon, answer.order.id);
    notice(placedText(answer.order), { kind: "ok" });
  } else {
    if (answer.code === "coupon_invalid") wallet?.loadCoupons();
    if (answer.code === "sold_out") p.stock_left = 0;
    notice(errorText(answer, { action: "buy", limit: p.limit_per_user, anonymous: !state.me }));
  }
  renderBag();
}

// ---------------------------------------------------------------------------------------
// The shelf: tabs "Bag" and "Mine" (my wallet, coupons and orders).

const wide = () => matchMedia("(min-width: 900px)").matches;

function renderShelf() {
  const shelf = $("#shelf");
  const open = wide() ? true : state.shelfOpen;
  shelf.hidden = !open || (!state.bag.length && !myOrders().length && wide());
  shelf.dataset.tab = state.tab;
  document.body.dataset.shelf = open && !wide() ? "open" : "";
  $("#bagBtn").setAttribute("aria-expanded", state.shelfOpen ? "true" : "false");
  $("#bagTab").setAttribute("aria-selected", state.tab === "bag" ? "true" : "false");
  $("#ordersTab").setAttribute("aria-selected", state.tab === "orders" ? "true" : "false");
  $("#bagPane").hidden = state.tab !== "bag";
  $("#ordersPane").hidden = state.tab !== "orders";
}

function openShelf(open, tab = state.tab) {
  state.shelfOpen = open;
  state.tab = tab;
  renderShelf();
  if (tab === "orders") renderOrders();
}

function orderRow(o, now) {
  const s = stateOf(o);
  const left = payLeft(o, now);
  const elsewhere = !here(o);
  const refund = o.refund_cents > 0 && holds(o)
    ? el("div", { class: "o-refund" }, `${money(o.refund_cents)} refund due (price protection)`)
    : null;
  const canCancel = s === "reserved" && (left === null || left > 0);
  return el("li", { class: "o", dataset: { order: o.id, state: s }, title: `Order ${o.id}` },
    el("div", { class: "o-head" },
      el("b", { class: "o-title" }, orderTitle(o), o.auction ? el("span", { class: "o-won" }, "won at auction") : null),
      el("span", { class: "o-state", dataset: { state: s, late: left !== null && left <= 0 ? "1" : "" } },
        left !== null ? payWithinText(left) : STATE_WORDS[s] || s)),
    el("div", { class: "o-meta" },
      el("span", {}, `${o.qty} × ${money(o.unit_price_cents)}`),
      o.discount_cents > 0 ? el("span", { class: "o-coupon" }, `coupon −${money(o.discount_cents)}`) : null,
      el("b", {}, money(o.total_cents)),
      el("span", { class: "o-when" }, timeOfDay(o.ts_ms).slice(0, 5)),
      elsewhere ? el("a", { class: "o-room", href: `/watch/${encodeURIComponent(o.room)}` }, `in ${o.room}`) : null,
      canCancel ? el("button", { type: "button", class: "o-cancel", onclick: () => cancelOrder(o) }, "Cancel") : null),
    refund);
}

function renderOrders() {
  const orders = myOrders();
  const reserved = orders.filter((o) => stateOf(o) === "reserved").length;
  $("#ordersCount").textContent = reserved ? `${reserved} to pay` : (orders.length ? String(orders.length) : "");
  if ($("#ordersPane").hidden && !wide()) return;
  renderWallet();
  const now = serverNow();
  const rows = orders.map((o) => orderRow(o, now));
  if (!rows.length) {
    rows.push(el("li", { class: "empty" }, state.me ? (mine?.ready ? "No orders yet." : "Loading your orders…")
      : "Sign in to see your orders."));
  }
  $("#orderList").replaceChildren(...rows);
  $("#olderOrders").hidden = !mine?.next;
}

// ---------------------------------------------------------------------------------------
// Mine, above my orders: the red-envelope wallet (GET /api/me/wallet, moved by the `wallet`
// event of /ws/me) and my coupons (GET /api/me/coupons: unused first, used and expired greyed).

function untilText(ms) {
  const left = ms - serverNow();
  if (left < 20 * 3600 * 1000) return `until ${timeOfDay(ms).slice(0, 5)}`;
  return `until ${new Date(ms).toLocaleDateString([], { day: "numeric", month: "short" })}`;
}

const roomLink = (id, title) => el("a", { class: "o-room", href: `/watch/${encodeURIComponent(id)}` }, `in ${title || id}`);

function couponRow(c) {
  const s = couponState(c);
  const status = s === "unused" ? untilText(c.expires_at_ms)
    : s === "used" ? `used${c.order ? ` on order #${c.order.slice(-6)}` : ""}` : "expired";
  return el("li", { class: "cp", dataset: { coupon: c.id, state: s }, title: `Coupon ${c.id}` },
    el("b", { class: "cp-value" }, moneyShort(c.value_cents)),
    el("div", { class: "cp-text" },
      el("div", { class: "cp-what" }, couponText(c)),
      el("div", { class: "cp-meta" },
        c.room === room ? el("span", {}, "this show") : roomLink(c.room, c.room_title),
        el("span", { class: "cp-state" }, status))));
}

function renderWallet() {
  const w = wallet;
  const showWallet = Boolean(w && (w.cents > 0 || w.entries.length));
  $("#walletBox").hidden = !showWallet;
  if (showWallet) {
    $("#walletCents").textContent = money(w.cents ?? 0);
    $("#walletEntries").replaceChildren(...w.entries.slice(0, 20).map((e) => el("li", { class: "w-entry", dataset: { drop: e.drop } },
      el("span", { class: "w-what" }, "Red envelope"),
      e.room === room ? el("span", {}, "this show") : roomLink(e.room),
      el("span", { class: "o-when" }, timeOfDay(e.ts_ms).slice(0, 5)),
      el("b", { class: "w-cents" }, `+${money(e.cents)}`))));
  }
  const coupons = w ? w.sortedCoupons() : [];
  $("#couponBox").hidden = !coupons.length;
  if (coupons.length) {
    const unused = coupons.filter((c) => couponState(c) === "unused").length;
    $("#couponCount").textContent = unused ? `${unused} to use` : "";
    $("#couponList").replaceChildren(...coupons.map(couponRow));
  }
  $("#ordersHead").hidden = $("#walletBox").hidden && $("#couponBox").hidden;
}

// The countdowns only: cheaper than a rebuild every tick, and a button keeps its focus.
function tickOrders() {
  const now = serverNow();
  for (const node of document.querySelectorAll("#orderList .o[data-state='reserved'] .o-state, #mine .order[data-state='reserved'] .order-state")) {
    const id = node.closest("[data-order]").dataset.order;
    const order = mine?.orders.get(id);
    if (!order) continue;
    const left = payLeft(order, now);
    if (left === null) continue;
    node.textContent = payWithinText(left);
    node.dataset.late = left <= 0 ? "1" : "";
  }
}

async function cancelOrder(o) {
  try {
    const order = await api(`/api/rooms/${encodeURIComponent(o.room || room)}/orders/${encodeURIComponent(o.id)}/cancel`,
      { method: "POST", token: state.token });
    mine?.put({ room: o.room || room, ...order });
  } catch (err) {
    notice(errorText(err, { action: "order" }));
  }
}

function startOrders(token) {
  mine?.stop();
  mine = null;
  wallet = null;
  if (!token) { renderOrders(); return; }
  wallet = new MyWallet({ token, onChange: () => { renderOrders(); renderBuy(); renderBag(); } });
  mine = new MyOrders({
    token,
    onChange: (order, before) => {
      renderOrders();
      if (here(order)) { renderMine(); renderBuy(); renderBag(); }
      orderChanged(order, before);
      if (order.auction) auctions?.ordersChanged();
      // A cancelled or expired order gives its coupon back: the server's list says so.
      if (order.coupon && before && stateOf(before) !== stateOf(order)) wallet?.loadCoupons();
    },
    onReady: () => { renderOrders(); renderPin(); renderBag(); },
    onEvent: (ev) => { if (ev.t === "wallet") wallet?.balance(ev.cents); },
    onOpen: () => wallet?.load(), // the catch-up of what `wallet` events would have said
  });
  mine.start();
  renderOrders();
}

// ---------------------------------------------------------------------------------------
// Video (video.js): WebRTC or HLS, whichever the server and the link say, each falling back to
// the other; `?video=webrtc|hls` asks for one. The chip on the stage says which, and how far
// behind live the picture is, measured.

const askedPath = ["webrtc", "hls"].includes(params.get("video")) ? params.get("video") : null;
const video = new VideoPlayer({
  room,
  element: $("#video"),
  ask: askedPath,
  live: () => state.room?.status === "live" && !state.fatal,
  hlsPath: () => state.room?.hls || null,
  onChange: () => { renderPoster(); renderVideoPath(); },
});

function renderVideoPath() {
  const chip = $("#videoPath");
  const label = video.label();
  chip.hidden = !label;
  if (label) {
    const [path, delay] = label;
    // "HLS · 2.9 s behind live"; on the narrowest phones "behind live" goes (watch.css).
    chip.replaceChildren(path, ...(delay ? [` · ${delay}`, el("span", { class: "vp-behind" }, " behind live")] : []));
  }
  chip.dataset.path = video.path || "";
  chip.title = (video.path === "hls"
    ? "HLS: made for any audience, a few seconds behind."
    : "WebRTC: the quickest path, for a limited audience per server.")
    + " Measured from the moment the server got the picture to now, on the server's clock.";
  if (video.state !== "playing") $("#sound").hidden = true;
  else $("#sound").hidden = !$("#video").muted;
}

// ---------------------------------------------------------------------------------------
// Events from the room.

function onEvent(ev) {
  switch (ev.t) {
    case "hello": return onHello(ev);
    case "chat": return addChat(ev);
    case "chat_deleted": return removeChat(ev.target);
    case "pin": {
      const isNew = !state.pin || state.pin.id !== ev.pin.id;
      state.pin = mergePin(state.pin, ev.pin);
      if (isNew) { state.qty = 1; state.lastPrice = ev.pin.price_cents; banner(`New deal: ${ev.pin.product.title}`, "deal"); }
      renderPin();
      return renderBag();
    }
    case "product":
      if (ev.removed) { state.bag = state.bag.filter((p) => p.id !== ev.product.id); return renderBag(); }
      return putProduct(ev.product);
    case "bag_stock": return bagStock(ev.left);
    case "price": {
      if (!state.pin || state.pin.id !== ev.pin) return;
      const before = state.pin.price_cents;
      state.pin = mergePin(state.pin, { ...state.pin, tier: ev.tier, price_cents: ev.price_cents, count: ev.count });
      const dropped = state.pin.price_cents < before;
      if (dropped) {
        banner(`Price drop! Now ${money(state.pin.price_cents)}`, "drop");
        systemLine(`Price dropped to ${money(state.pin.price_cents)}`);
      }
      return renderPin({ priceDropped: dropped });
    }
    case "progress":
      if (state.pin && state.pin.id === ev.pin) {
        state.pin = mergePin(state.pin, { ...state.pin, count: ev.count });
        renderPin();
      }
      return;
    case "stock":
      if (state.pin && state.pin.id === ev.pin) {
        state.pin = mergePin(state.pin, { ...state.pin, stock_left: ev.left });
        renderPin();
      }
      return;
    case "sold_out":
      if (state.pin && state.pin.id === ev.pin) {
        state.pin = mergePin(state.pin, { ...state.pin, state: "sold_out", stock_left: 0 });
        banner("Sold out!", "warn");
        renderPin();
      }
      return;
    case "pin_end":
      saveFinal(ev.pin, ev.final_price_cents);
      if (state.pin && state.pin.id === ev.pin) {
        state.pin = mergePin(state.pin, { ...state.pin, state: "ended", price_cents: Math.min(state.pin.price_cents, ev.final_price_cents) });
        renderPin();
        renderBag();
      }
      return;
    case "room":
      if (state.room) {
        const was = state.room.status;
        const { t, seq, ...changed } = ev; // the event carries the room's fields that changed
        state.room = { ...state.room, ...changed, title: ev.title ?? state.room.title };
        if (was !== ev.status && ev.status === "live") banner("We're live!", "deal");
        if (was !== ev.status && ev.status === "ended") { systemLine("The show has ended."); drops.roomEnded(); auctions.roomEnded(); }
        renderRoom();
        renderPin(); // an ended show ends its sale too, whether or not a pin_end follows
        renderBag(); // the bag sells only while the show is live
        video.retryNow("room"); // something changed in the room: perhaps the camera is on now
      }
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
    case "viewers": return setViewers(ev.n);
    case "likes": return setLikes(ev.total);
    case "error":
      // Answers to our requests are shown where they were made; this is for the rest.
      if (!ev.id) notice(errorText(ev, { anonymous: !state.me }));
      return;
    default:
      return;
  }
}

function onHello(h) {
  state.me = h.you;
  state.room = h.room;
  state.mutedUntil = h.you?.muted_until_ms || 0;
  setViewers(h.viewers);
  state.likes = 0;
  setLikes(h.likes, false);
  if (!h.resumed) {
    const list = $("#chat");
    list.replaceChildren();
    for (const line of h.chat) addChat(line, { fly: false });
    follow.set(true);
    follow.toBottom(list);
    state.pin = h.pin ? { ...h.pin } : null;
  } else {
    state.pin = h.pin ? mergePin(state.pin, h.pin) : null;
  }
  if (h.bag) state.bag = h.bag.map((p) => ({ ...p })); // the whole bag, also after a resume
  if (!h.resumed) state.posted = (h.chat || []).some((line) => h.you && line.user?.id === h.you.id);
  drops.hello(h);
  auctions.hello(h);
  renderRoom();
  renderPin();
  renderBag();
  loadReminder();
}

function onMod(ev) {
  const me = state.me?.id;
  if (ev.action === "slow") {
    state.room = { ...state.room, slow_s: ev.seconds };
    systemLine(ev.seconds ? `Slow mode on: one post every ${ev.seconds} s.` : "Slow mode is off.");
    renderComposer();
    return;
  }
  if (!me || ev.user !== me) return;
  if (ev.action === "mute") {
    state.mutedUntil = serverNow() + ev.seconds * 1000;
    notice(`The host muted you until ${timeOfDay(state.mutedUntil)}. You can still watch and buy.`, { ms: 0 });
  } else if (ev.action === "unmute") {
    state.mutedUntil = 0;
    notice("You can chat again.", { kind: "ok" });
  } else if (ev.action === "ban") {
    fatal(CLOSE_WORDS[4003]);
  }
  renderComposer();
}

function fatal(text) {
  state.fatal = text;
  video.stop();
  notice(text, { ms: 0 });
  renderComposer();
  renderPoster();
}

function onStatus(status, detail) {
  const net = $("#net");
  if (status === "online") {
    net.hidden = true;
  } else if (status === "closed") {
    fatal(CLOSE_WORDS[detail.code] || "The connection was closed.");
  } else if (status === "reconnecting") {
    net.hidden = false;
    net.textContent = "Connection lost. Reconnecting…";
  }
  document.body.dataset.net = status;
}

// ---------------------------------------------------------------------------------------
// Start: who am I (fragment token, dev token, or anonymous), then connect.

async function identify() {
  const { token, dev } = await signIn(`viewer.${room}`);
  state.dev = dev;
  return token;
}

// The drop card (drops.js): grabs go over the room socket, re-sent with the same id after a
// reconnect; what I win goes to the wallet or the coupons at once.
let drops = null;
function makeDrops() {
  drops = new DropCard({
    request: (frame) => socket.request(frame, { resend: true }),
    me: () => state.me,
    onFollow: () => { if (!state.me?.follows_host && !state.followBusy) toggleFollow(); },
    onChatTask: () => $("#chatInput").focus(),
    hasPosted: () => state.posted,
    announce,
    onWon: (won, drop) => {
      if (won.cents !== undefined) {
        wallet?.loadWallet(); // the `wallet` event says so too; this is for a channel that is down
        notice(`${money(won.cents)} went into your wallet (Mine).`, { kind: "ok" });
      } else {
        wallet?.grabbed(won.coupon, room, drop.id);
        notice(`Coupon saved: ${couponText(won.coupon)}. Pick it when you buy.`, { kind: "ok" });
      }
    },
  });
}

// The auction card (auction.js): bids go over the room socket, re-sent with the same id after
// a reconnect; the winner's order comes into Mine over /ws/me like any order.
let auctions = null;
function makeAuctions() {
  auctions = new AuctionCard({
    request: (frame) => socket.request(frame, { resend: true }),
    me: () => state.me,
    isHost: () => Boolean(state.me && state.room?.host?.id === state.me.id),
    payWithin: () => state.room?.pay_within_s || 0,
    orderOf: (id) => mine?.orders.get(id) || null,
    openMine: () => openShelf(true, "orders"),
    announce,
    onEnded: (line) => systemLine(line), // stays in the chat after the card goes
  });
}

function bindUi() {
  makeDrops();
  makeAuctions();
  follow.init($("#chat"));
  $("#composer").addEventListener("submit", sendChat);
  $("#chatInput").addEventListener("input", renderCount);
  $("#like").addEventListener("click", tapLike);
  $("#followBtn").addEventListener("click", toggleFollow);
  $("#pvFollow").addEventListener("click", toggleFollow);
  $("#pvRemind").addEventListener("click", toggleReminder);
  $("#shareBtn").addEventListener("click", share);
  setInterval(renderPreviewClock, 1000);
  $("#buy").addEventListener("click", buy);
  $("#couponPick").addEventListener("change", (e) => { state.couponPick = e.target.value; renderBuy(); });
  $("#product").addEventListener("click", toggleCard);
  $("#bulletsBtn").addEventListener("click", () => setBullets(!bulletsOn()));
  setBullets(bulletsOn());
  $("#qtyMinus").addEventListener("click", () => { state.qty = Math.max(1, state.qty - 1); renderBuy(); });
  $("#qtyPlus").addEventListener("click", () => { state.qty += 1; renderBuy(); });
  $("#sound").addEventListener("click", () => {
    const v = $("#video");
    v.muted = false;
    v.play().catch(() => {});
    $("#sound").hidden = true;
  });
  const v = $("#video");
  v.addEventListener("playing", () => video.playing());
  v.addEventListener("resize", () => { if (v.videoWidth) video.playing(); });
  $("#nameBtn").addEventListener("click", () => {
    $("#nameForm").hidden = false;
    $("#composer").hidden = true;
    $("#nameInput").value = state.me?.name || "";
    $("#nameInput").focus();
  });
  $("#nameCancel").addEventListener("click", () => { $("#nameForm").hidden = true; $("#composer").hidden = false; });
  $("#nameForm").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = $("#nameInput").value.trim().slice(0, 32);
    if (!name) return;
    try {
      const token = await devToken({ name, role: "viewer" });
      localStorage.setItem("live.name", name);
      if (params.has("name")) {
        // The chosen name wins over the one the link came with, also after a reload.
        params.delete("name");
        const qs = params.toString();
        history.replaceState(null, "", location.pathname + (qs ? `?${qs}` : "") + location.hash);
      }
      $("#nameForm").hidden = true;
      $("#composer").hidden = false;
      socket.close();
      startSocket(token, socket.lastSeq);
    } catch (err) {
      notice(errorText(err));
    }
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) video.retryNow("visible"); });
  $("#bagBtn").addEventListener("click", () => openShelf(!state.shelfOpen, state.tab));
  $("#bagTab").addEventListener("click", () => openShelf(true, "bag"));
  $("#ordersTab").addEventListener("click", () => openShelf(true, "orders"));
  $("#shelfClose").addEventListener("click", () => openShelf(false));
  $("#olderOrders").addEventListener("click", async () => { await mine?.more(); renderOrders(); });
  matchMedia("(min-width: 900px)").addEventListener("change", () => { renderShelf(); renderOrders(); });
  setInterval(tickOrders, 250);
  setInterval(() => {
    if (!state.pin) return;
    const before = $("#product").dataset.state;
    if (displayState(state.pin) !== before) renderPin();
    else { renderCountdown(); renderBuy(); }
    if (state.mutedUntil && state.mutedUntil <= serverNow()) { state.mutedUntil = 0; renderComposer(); }
  }, 250);
}

let socket = null;
function startSocket(token, since = null) {
  if (token !== state.token || !mine) startOrders(token);
  state.token = token;
  socket = new RoomSocket(room, { token, query: { share: shareCode }, onEvent, onStatus });
  socket.lastSeq = since;
  socket.connect();
  window.__live = {
    get socket() { return socket; },
    state,
    drop: () => socket.drop(),
    video,
    get orders() { return mine; },
    get wallet() { return wallet; },
    get drops() { return drops; },
    get auctions() { return auctions; },
  };
}

async function main() {
  if (params.get("embed") === "1") document.body.classList.add("embed");
  bindUi();
  renderPoster();
  api("/healthz").catch(() => {}); // its Date header tells how far this clock is off the server's
  const token = await identify();
  startSocket(token);
  renderComposer();
}

main();
