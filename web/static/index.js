// The entrance: live rooms with their viewer counts, and in dev mode a one-click demo.
import { $, el, svgEl, api, errorText, isDev, devToken, randomId } from "./client.js";

function eye() {
  const svg = svgEl("svg", { viewBox: "0 0 24 24", class: "ico", "aria-hidden": "true" });
  svg.append(svgEl("path", { fill: "currentColor", d: "M12 5C6.5 5 2.7 9.2 1.5 12c1.2 2.8 5 7 10.5 7s9.3-4.2 10.5-7C21.3 9.2 17.5 5 12 5zm0 11.5A4.5 4.5 0 1 1 12 7.5a4.5 4.5 0 0 1 0 9zm0-7a2.5 2.5 0 1 0 0 5 2.5 2.5 0 0 0 0-5z" }));
  return svg;
}

const REFRESH_MS = 5000;

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
  loadRooms();
}

async function main() {
  $("#hostForm").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = $("#hostRoom").value.trim();
    if (/^[a-z0-9-]{1,40}$/.test(id)) location.href = `/host/${id}`;
  });
  $("#demoBtn").addEventListener("click", startDemo);
  $("#splitClose").addEventListener("click", closeSplit);
  await loadRooms();
  setInterval(() => { if (!$("#lobby").hidden) loadRooms(); }, REFRESH_MS);
  if (await isDev()) {
    $("#demoBtn").hidden = false;
    const demo = new URLSearchParams(location.hash.slice(1)).get("demo");
    if (demo && /^[a-z0-9-]{1,40}$/.test(demo)) openSplit(demo);
  }
}

main();
