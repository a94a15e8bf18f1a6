// The entrance, a home: the live rooms with their viewer counts, the shows starting soon
// (with "Remind me"), the hosts I follow, a toast when one of them goes live (from /ws/me),
// and in dev mode a one-click demo.
import { $, el, svgEl, api, errorText, isDev, devToken, randomId, signIn, jwtClaims, serverNow } from "./client.js";
import { MyOrders } from "./orders.js";
import { askToNotify, followersText, remindedRooms, setReminder, startsText, systemNotice } from "./social.js";

function eye() {
  const svg = svgEl("svg", { viewBox: "0 0 24 24", class: "ico", "aria-hidden": "true" });
  svg.append(svgEl("path", { fill: "currentColor", d: "M12 5C6.5 5 2.7 9.2 1.5 12c1.2 2.8 5 7 10.5 7s9.3-4.2 10.5-7C21.3 9.2 17.5 5 12 5zm0 11.5A4.5 4.5 0 1 1 12 7.5a4.5 4.5 0 0 1 0 9zm0-7a2.5 2.5 0 1 0 0 5 2.5 2.5 0 0 0 0-5z" }));
  return svg;
}

const REFRESH_MS = 5000;
const jwtName = (token) => jwtClaims(token)?.name || "you";

function flash(text) {
  const box = $("#flash");
  box.textContent = text;
  box.hidden = !text;
}

const MAX_ROOM_PAGES = 10; // 2,000 live rooms at most: the list pages in room-id order

/** Every live room, following the list's `next` cursor (its pages come in id order, not by viewers). */
async function liveRooms() {
  const rooms = [];
  let cursor = null;
  for (let page = 0; page < MAX_ROOM_PAGES; page++) {
    const query = cursor ? `?limit=200&cursor=${encodeURIComponent(cursor)}` : "?limit=200";
    const body = await api(`/api/rooms${query}`);
    rooms.push(...body.rooms);
    cursor = body.next;
    if (!cursor) break;
  }
  return rooms;
}

async function loadRooms() {
  let all;
  try {
    all = await liveRooms();
  } catch (err) {
    flash(`Could not load the rooms: ${errorText(err)}`);
    return;
  }
  flash("");
  // Rooms people watch come first, most watched first, as cards. Rooms nobody watches (demo
  // rooms left running pile up) follow as one compact list, so they never push the rest down.
  const rooms = all.slice().sort((a, b) => b.viewers - a.viewers || a.title.localeCompare(b.title));
  const watched = rooms.filter((r) => r.viewers > 0);
  const quiet = rooms.filter((r) => r.viewers <= 0);
  $("#count").textContent = rooms.length ? `(${rooms.length})` : "";
  $("#empty").hidden = rooms.length > 0;
  $("#rooms").replaceChildren(...watched.map(roomCard));
  $("#quiet").replaceChildren(...quiet.map((r) => el("li", { class: "room-quiet", dataset: { room: r.id } },
    el("a", { href: `/watch/${encodeURIComponent(r.id)}`, title: r.title },
      el("span", { class: "badge", "data-status": "live" }, "LIVE"),
      el("span", { class: "quiet-title" }, r.title),
      el("span", { class: "quiet-host" }, r.host?.name || "")))));
  $("#quietBox").hidden = quiet.length === 0;
  $("#quietCount").textContent = String(quiet.length);
  document.body.dataset.loaded = "1";
}

// ---------------------------------------------------------------------------------------
// Starting soon: GET /api/rooms?status=scheduled, soonest first, each with "Remind me".

const SOCIAL_REFRESH_MS = 15_000;
const me = { token: null, reminded: new Set(), channel: null };
let soon = []; // the scheduled rooms as last read

const SOON_MAX = 20;
const SOON_PAGES = 4;
// A show whose time passed this long ago and that never started was given up on: not "soon".
const STALE_MS = 2 * 3600 * 1000;

/**
 * The shows with a start time to come (or just passed), soonest first. Rooms made but never
 * given a time (abandoned demo rooms, shows not planned yet) are not "starting soon"; they
 * come last in the server's order, so the pages stop at the first of them.
 */
async function scheduledRooms() {
  const found = [];
  let cursor = null;
  for (let page = 0; page < SOON_PAGES && found.length < SOON_MAX; page++) {
    const query = `?status=scheduled&limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const body = await api(`/api/rooms${query}`);
    const rooms = body.rooms || [];
    const floor = serverNow() - STALE_MS;
    found.push(...rooms.filter((r) => r.starts_at_ms != null && r.starts_at_ms >= floor));
    cursor = body.next;
    if (!cursor || rooms.some((r) => r.starts_at_ms == null)) break;
  }
  return found.slice(0, SOON_MAX);
}

async function loadSoon() {
  try {
    soon = await scheduledRooms();
  } catch (err) {
    flash(`Could not load the shows to come: ${errorText(err)}`);
    return;
  }
  renderSoon();
  document.body.dataset.soonLoaded = "1";
}

function renderSoon() {
  $("#soonCount").textContent = soon.length ? `(${soon.length})` : "";
  $("#soonEmpty").hidden = soon.length > 0;
  $("#soon").replaceChildren(...soon.map(soonItem));
}

function soonItem(r) {
  const on = me.reminded.has(r.id);
  const host = r.host?.name || "";
  return el("li", { class: "soon-item", dataset: { room: r.id } },
    el("a", { class: "soon-link", href: `/watch/${encodeURIComponent(r.id)}` },
      el("span", { class: "avatar", "aria-hidden": "true" }, (host || "?").slice(0, 1).toUpperCase()),
      el("span", { class: "soon-text" },
        el("span", { class: "soon-title" }, r.title),
        el("span", { class: "soon-host" }, host),
        r.description ? el("span", { class: "soon-desc" }, r.description) : null,
        el("span", { class: "soon-when num", dataset: { starts: r.starts_at_ms ?? "" } }, startsText(r.starts_at_ms)))),
    el("button", {
      type: "button", class: "remind", "aria-pressed": on ? "true" : "false",
      "aria-label": `Remind me of ${r.title}`, onclick: (e) => toggleReminder(r, e.currentTarget),
    }, on ? "✓ Reminder set" : "Remind me"));
}

// ---------------------------------------------------------------------------------------
// Replays: GET /api/rooms?status=ended, the latest shows first, each linking to /replay/{room}.

const REPLAYS_MAX = 8;

async function loadReplays() {
  let rooms;
  try {
    rooms = (await api(`/api/rooms?status=ended&limit=${REPLAYS_MAX}`)).rooms || [];
  } catch {
    return; // an older server: no replays section
  }
  $("#replayBox").hidden = rooms.length === 0;
  $("#replays").replaceChildren(...rooms.map((r) => {
    const host = r.host?.name || "";
    return el("li", { class: "soon-item replay-item", dataset: { room: r.id } },
      el("a", { class: "soon-link", href: `/replay/${encodeURIComponent(r.id)}` },
        el("span", { class: "avatar", "aria-hidden": "true" }, (host || "?").slice(0, 1).toUpperCase()),
        el("span", { class: "soon-text" },
          el("span", { class: "soon-title" }, r.title),
          el("span", { class: "soon-host" }, host))),
      el("span", { class: "badge", "data-status": "ended" }, "▶ Replay"));
  }));
}

// Countdowns tick every second without reading the list again.
function tickCountdowns() {
  for (const node of document.querySelectorAll(".soon-when, .next-when")) {
    const starts = node.dataset.starts;
    node.textContent = startsText(starts === "" ? null : Number(starts));
  }
}

async function toggleReminder(r, button) {
  if (!me.token) {
    flash("Sign in to be reminded: open your sign-in link.");
    return;
  }
  askToNotify(); // a click: the one moment a page may ask
  const on = !me.reminded.has(r.id);
  button.disabled = true;
  try {
    const answer = await setReminder(r.id, on, me.token);
    if (answer.reminded) me.reminded.add(r.id);
    else me.reminded.delete(r.id);
    flash("");
  } catch (err) {
    // 409: the show is not scheduled any more (it started, or ended): the lists say which.
    flash(err.code === "conflict" ? `${r.title} is not scheduled any more.` : `Reminder: ${errorText(err)}`);
    refreshAll();
  } finally {
    button.disabled = false;
  }
  renderSoon();
  $(`#soon li[data-room="${CSS.escape(r.id)}"] .remind`)?.focus();
}

// ---------------------------------------------------------------------------------------
// Hosts I follow: GET /api/follows, live now (a link to the room) or the next show.

async function loadFollows() {
  if (!me.token) return;
  let body;
  try {
    body = await api("/api/follows", { token: me.token });
  } catch (err) {
    if (err.code === "unauthorized" || err.code === "forbidden") { $("#followBox").hidden = true; return; }
    flash(`Could not load the hosts you follow: ${errorText(err)}`);
    return;
  }
  const hosts = body.hosts || [];
  $("#followBox").hidden = false;
  $("#followCount").textContent = hosts.length ? `(${hosts.length})` : "";
  $("#followEmpty").hidden = hosts.length > 0;
  $("#follows").replaceChildren(...hosts.map(followItem));
  document.body.dataset.followsLoaded = "1";
}

function followItem(h) {
  let what;
  if (h.live_room) {
    what = el("a", { class: "host-live", href: `/watch/${encodeURIComponent(h.live_room.id)}` },
      el("span", { class: "badge", "data-status": "live" }, "LIVE"), " ", el("span", { class: "host-show" }, h.live_room.title));
  } else if (h.next_show) {
    what = el("a", { class: "host-next", href: `/watch/${encodeURIComponent(h.next_show.id)}` },
      el("span", { class: "host-show" }, h.next_show.title), " · ",
      el("span", { class: "next-when num", dataset: { starts: h.next_show.starts_at_ms ?? "" } }, startsText(h.next_show.starts_at_ms)));
  } else {
    what = el("span", { class: "host-none" }, "No show planned");
  }
  return el("li", { class: "host-item", dataset: { host: h.id, live: h.live_room ? "1" : "0" } },
    el("span", { class: "avatar", "aria-hidden": "true" }, (h.name || "?").slice(0, 1).toUpperCase()),
    el("div", { class: "host-body" },
      el("div", { class: "host-line" }, el("b", { class: "host-name" }, h.name), " ", el("small", { class: "host-followers" }, followersText(h.followers))),
      what));
}

// ---------------------------------------------------------------------------------------
// Go-live notices: /ws/me brings `live` when a host I follow, or a show I asked to be
// reminded of, goes live; a toast says so (and a system notification, where allowed).

const TOAST_MS = 20_000;
const MAX_TOASTS = 3;
const toasted = new Set(); // room ids: one toast per show

function onLive(ev) {
  const room = ev.room;
  if (!room?.id || toasted.has(room.id)) return;
  toasted.add(room.id);
  const href = `/watch/${encodeURIComponent(room.id)}`;
  const toast = el("div", { class: "toast", dataset: { room: room.id } },
    el("span", { class: "badge", "data-status": "live" }, "LIVE"),
    el("span", { class: "toast-text" }, `${room.host?.name || "A host"} is live: ${room.title}`),
    el("a", { class: "toast-go", href }, "Watch"),
    el("button", { type: "button", class: "toast-close", "aria-label": "Dismiss", onclick: () => toast.remove() }, "✕"));
  const box = $("#toasts");
  box.append(toast);
  while (box.childElementCount > MAX_TOASTS) box.firstElementChild.remove();
  setTimeout(() => toast.remove(), TOAST_MS);
  // A system notification only where it adds something: the person is not looking at us.
  if (document.visibilityState !== "visible" || !document.hasFocus()) systemNotice(ev);
  refreshAll();
}

function startChannel() {
  me.channel = new MyOrders({
    token: me.token,
    orders: false,
    onEvent: (ev) => { if (ev.t === "live") onLive(ev); },
    // (Re)opened: what was missed while away is in the lists.
    onOpen: () => { document.body.dataset.me = "online"; loadReminders(); },
  });
  me.channel.start();
}

async function loadReminders() {
  try {
    me.reminded = await remindedRooms(me.token);
    renderSoon();
  } catch {
    // the buttons keep what they showed; the next open asks again
  }
}

function refreshAll() {
  if ($("#lobby").hidden) return;
  loadRooms();
  loadSoon();
  loadFollows();
  loadReplays();
}

function roomCard(r) {
  return el("li", { class: "room", dataset: { room: r.id } },
    el("a", { href: `/watch/${encodeURIComponent(r.id)}` },
      el("div", { class: "thumb" },
        el("span", { class: "badge", "data-status": "live" }, "LIVE"),
        el("span", { class: "viewers" }, eye(), " ", el("b", { class: "n" }, String(r.viewers))),
        el("span", { class: "initial", "aria-hidden": "true" }, (r.host?.name || "?").slice(0, 1).toUpperCase())),
      el("div", { class: "room-title" }, r.title),
      el("div", { class: "room-host" }, r.host?.name || "")));
}

async function startDemo() {
  const button = $("#demoBtn");
  button.disabled = true;
  const room = `demo-${randomId("").slice(0, 6)}`;
  try {
    // The same cached dev token the host panel will use (role host, this room, name "Host").
    const token = await devToken({ name: "Host", role: "host", room });
    const base = `/api/rooms/${room}`;
    await api(base, { method: "PUT", token, body: { title: "Demo: flash sale" } });
    await api(`${base}/start`, { method: "POST", token });
    await api(`${base}/pins`, {
      method: "POST", token, body: {
        product: { id: "panda-mug", title: "Panda mug", list_price_cents: 3000, image_url: "/static/img/panda-mug.svg" },
        stock: 20, limit_per_user: 2, starts_in_s: 5, duration_s: 180, count: "posters", price_protection: true,
        tiers: [{ at: 0, price_cents: 2500 }, { at: 2, price_cents: 1990 }, { at: 4, price_cents: 1500 }],
      },
    });
    openSplit(room);
  } catch (err) {
    flash(`The demo could not start: ${errorText(err)}`);
  } finally {
    button.disabled = false;
  }
}

function openSplit(room) {
  const host = `/host/${room}`;
  const watch = `/watch/${room}?name=Viewer`;
  $("#hostFrame").src = host;
  $("#watchFrame").src = watch;
  $("#splitHost").href = host;
  $("#splitWatch").href = watch;
  $("#splitTitle").textContent = room;
  $("#split").hidden = false;
  $("#lobby").hidden = true;
  history.replaceState(null, "", `/#demo=${room}`);
}

function closeSplit() {
  $("#split").hidden = true;
  $("#lobby").hidden = false;
  $("#hostFrame").src = "about:blank";
  $("#watchFrame").src = "about:blank";
  history.replaceState(null, "", "/");
  refreshAll();
}

async function main() {
  $("#hostForm").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = $("#hostRoom").value.trim();
    if (/^[a-z0-9-]{1,40}$/.test(id)) location.href = `/host/${id}`;
  });
  $("#demoBtn").addEventListener("click", startDemo);
  $("#splitClose").addEventListener("click", closeSplit);
  const who = await signIn("viewer.home");
  me.token = who.token;
  if (me.token) {
    $("#me").hidden = false;
    $("#me").textContent = `Signed in as ${jwtName(me.token)}`;
    startChannel();
  }
  await Promise.all([loadRooms(), loadSoon(), loadFollows(), loadReplays()]);
  setInterval(() => { if (!$("#lobby").hidden) loadRooms(); }, REFRESH_MS);
  setInterval(() => { if (!$("#lobby").hidden) { loadSoon(); loadFollows(); loadReplays(); } }, SOCIAL_REFRESH_MS);
  setInterval(tickCountdowns, 1000);
  window.__home = { me, get channel() { return me.channel; } };
  if (await isDev()) {
    $("#demoBtn").hidden = false;
    const demo = new URLSearchParams(location.hash.slice(1)).get("demo");
    if (demo && /^[a-z0-9-]{1,40}$/.test(demo)) openSplit(demo);
  }
}

main();
