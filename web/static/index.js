// The entrance: live rooms with their viewer counts, and in dev mode a one-click demo.
import { $, el, api, errorText, isDev, devToken, randomId } from "./client.js";

const REFRESH_MS = 5000;

function flash(text) {
  const box = $("#flash");
  box.textContent = text;
  box.hidden = !text;
}

async function loadRooms() {
  let body;
  try {
    body = await api("/api/rooms");
  } catch (err) {
    flash(`Could not load the rooms: ${errorText(err)}`);
    return;
  }
  flash("");
  const rooms = body.rooms.slice().sort((a, b) => b.viewers - a.viewers);
  $("#count").textContent = rooms.length ? `(${rooms.length})` : "";
  $("#empty").hidden = rooms.length > 0;
  $("#rooms").replaceChildren(...rooms.map((r) => el("li", { class: "room", dataset: { room: r.id } },
    el("a", { href: `/watch/${encodeURIComponent(r.id)}` },
      el("div", { class: "thumb" },
        el("span", { class: "badge", "data-status": "live" }, "LIVE"),
        el("span", { class: "viewers" }, "👁 ", el("b", { class: "n" }, String(r.viewers))),
        el("span", { class: "initial" }, (r.host?.name || "?").slice(0, 1).toUpperCase())),
      el("div", { class: "room-title" }, r.title),
      el("div", { class: "room-host muted" }, r.host?.name || "")))));
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
        product: { id: "panda-mug", title: "Panda mug", list_price_cents: 3000, image_url: "/static/img/mug.svg" },
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
