// Follows, reminders and go-live notices (contract §9): the calls and the words that the
// entrance and the player share.
import { api, clock, serverNow } from "./client.js";

const DAY_MS = 24 * 3600 * 1000;

/** Follow or unfollow a host: {id, name, followers, following}. */
export const setFollow = (host, on, token) =>
  api(`/api/follows/${encodeURIComponent(host)}`, { method: on ? "PUT" : "DELETE", token });

/** Ask to be reminded of a scheduled show, or not: {room, reminded}. */
export const setReminder = (room, on, token) =>
  api(`/api/rooms/${encodeURIComponent(room)}/reminder`, { method: on ? "PUT" : "DELETE", token });

/** The ids of the rooms I asked to be reminded of. */
export async function remindedRooms(token) {
  const body = await api("/api/me/reminders", { token });
  return new Set((body.rooms || []).map((r) => r.id));
}

/** "1 follower", "12 followers", "1.2k followers". */
export function followersText(n) {
  const count = Number(n) || 0;
  const shown = count >= 10_000 ? `${Math.round(count / 1000)}k` : count >= 1000 ? `${(count / 1000).toFixed(1)}k` : String(count);
  return `${shown} ${count === 1 ? "follower" : "followers"}`;
}

/**
 * When a scheduled show starts, in words: a countdown within a day ("Starts in 1:02:05"),
 * else the day and time ("Starts Sat 14:00"); "Starting any moment" once the time has come
 * (the host starts the show, not the clock); "Time to be announced" without a time.
 */
export function startsText(startsAtMs, now = serverNow()) {
  if (startsAtMs === null || startsAtMs === undefined) return "Time to be announced";
  const left = startsAtMs - now;
  if (left <= 0) return "Starting any moment";
  if (left < DAY_MS) return `Starts in ${clock(left)}`;
  const when = new Date(startsAtMs);
  const parts = { weekday: "short", hour: "2-digit", minute: "2-digit", hour12: false };
  if (left > 6 * DAY_MS) Object.assign(parts, { day: "numeric", month: "short" });
  return `Starts ${when.toLocaleString([], parts)}`;
}

/**
 * Ask for permission to show system notifications. Only ever called from a click (Follow,
 * Remind me): browsers ignore or punish a page that asks on load, and so would people.
 */
export function askToNotify() {
  if (!("Notification" in globalThis) || Notification.permission !== "default") return;
  try {
    Notification.requestPermission().catch(() => {});
  } catch {
    // an older browser without the promise form: no notifications, the toast is enough
  }
}

/** A system notification for a `live` event, where the person allowed them. */
export function systemNotice(ev) {
  if (!("Notification" in globalThis) || Notification.permission !== "granted") return null;
  const room = ev.room || {};
  try {
    const note = new Notification(`${room.host?.name || "A host"} is live`, {
      body: room.title || "",
      tag: `live-${room.id}`, // one notice per show, even if it comes twice
    });
    note.onclick = () => {
      window.focus();
      location.href = `/watch/${encodeURIComponent(room.id)}`;
    };
    return note;
  } catch {
    return null; // Android Chrome allows them only from a service worker: the toast is enough
  }
}
