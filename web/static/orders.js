// My orders, from the server: `GET /api/me/orders` is the catch-up, the personal channel
// `/ws/me` (contract §8) brings every change live. The list is the server's, so it is the
// same in every room and on every device.
import { api, closePolicy, clock, serverNow } from "./client.js";

export const LIVE_STATES = new Set(["reserved", "confirmed"]); // the states that hold units

/** An order's state; an order from a server before v1.1 has none and was confirmed when acked. */
export const stateOf = (order) => order.state || "confirmed";

/** Whether an order still holds its units (counts toward stock and per-person limits). */
export const holds = (order) => LIVE_STATES.has(stateOf(order));

/** The newer of two versions of one order: `version` rises by one at every change. */
export function newerOrder(old, next) {
  if (!old) return { ...next };
  if ((next.version ?? 0) < (old.version ?? 0)) return old;
  return { ...old, ...next };
}

/** "Pay within 4:59" while reserved and on time; null otherwise. */
export function payLeft(order, now = serverNow()) {
  if (stateOf(order) !== "reserved" || !order.pay_by_ms) return null;
  return order.pay_by_ms - now;
}

export const payWithinText = (ms) => (ms > 0 ? `Pay within ${clock(ms)}` : "Payment time is up");

export const STATE_WORDS = {
  reserved: "Reserved",
  confirmed: "Paid",
  cancelled: "Cancelled",
  expired: "Expired",
};

/**
 * The signed-in person's orders in every room, and the personal channel `/ws/me` they come on.
 *
 * `onChange(order, before)` runs for every order that is new or changed (before is the
 * version known until then, or null); `onReady()` after each catch-up; `onEvent(ev)` for
 * every other event of the channel (`live`, `wallet`) and `onOpen()` each time it opens
 * (the moment to catch up on what those events would have said). A page that shows no
 * orders passes `orders: false`: the channel without the orders' catch-up.
 */
export class MyOrders {
  constructor({ token, orders = true, onChange = () => {}, onReady = () => {}, onEvent = () => {}, onOpen = () => {} }) {
    this.token = token;
    this.withOrders = orders;
    this.onChange = onChange;
    this.onReady = onReady;
    this.onEvent = onEvent;
    this.onOpen = onOpen;
    this.orders = new Map(); // order id -> order
    this.next = null; // cursor of the next older page, null when there is none
    this.ready = false;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.status = "idle";
    this.heartbeat = null;
  }

  /** Orders newest first. */
  list() {
    return [...this.orders.values()].sort((a, b) => b.ts_ms - a.ts_ms);
  }

  /** Take in one version of an order (an ack, an event, a page of the catch-up). */
  put(order) {
    if (!order?.id) return;
    const before = this.orders.get(order.id) || null;
    const merged = newerOrder(before, order);
    if (merged === before) return;
    this.orders.set(order.id, merged);
    if (!before || before.version !== merged.version || stateOf(before) !== stateOf(merged) || before.refund_cents !== merged.refund_cents) {
      this.onChange(merged, before);
    }
  }

  start() {
    if (!this.token) return;
    this._connect();
    this.heartbeat = setInterval(() => this._raw({ t: "ping" }), 20_000);
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.heartbeat);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000);
  }

  /** The next older page of the catch-up. */
  async more() {
    if (!this.next) return;
    await this._page(this.next);
  }

  _connect() {
    if (this.stopped) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/ws/me?token=${encodeURIComponent(this.token)}`);
    this.ws = ws;
    this.status = "connecting";
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      this.status = "online";
      // Catch up once the channel is open: a change made meanwhile comes one way or the
      // other, and the higher version wins, so nothing is missed and nothing goes back.
      if (this.withOrders) this._page(null);
      this.onOpen();
    };
    ws.onmessage = (msg) => {
      if (this.ws !== ws) return;
      let events;
      try { events = JSON.parse(msg.data); } catch { return; }
      for (const ev of Array.isArray(events) ? events : [events]) {
        if (ev.t === "order" && ev.order) this.put(ev.order);
        else if (ev.t !== "pong") this.onEvent(ev);
      }
    };
    ws.onclose = (ev) => { if (this.ws === ws) this._closed(ev.code); };
    ws.onerror = () => {};
  }

  async _page(cursor) {
    const query = cursor ? `?limit=50&cursor=${encodeURIComponent(cursor)}` : "?limit=50";
    try {
      const body = await api(`/api/me/orders${query}`, { token: this.token });
      for (const order of body.orders || []) this.put(order);
      if (!cursor || this.next === cursor) this.next = body.next ?? null;
      this.ready = true;
      this.onReady();
    } catch {
      // The channel's own reconnect asks again.
    }
  }

  _closed(code) {
    this.ws = null;
    if (this.stopped) return;
    const policy = closePolicy(code);
    if (!policy.reconnect) {
      this.stopped = true;
      this.status = "closed";
      return;
    }
    this.status = "reconnecting";
    this.attempt += 1;
    const ceiling = Math.min(15_000, 500 * 2 ** Math.min(this.attempt - 1, 5));
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.timer = setTimeout(() => this._connect(), delay);
  }

  _raw(frame) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }
}
