// The panel's Auction card (contract §11): a form with presets that POSTs an auction of a bag
// product (or of a product typed in), then the lot live: the highest bid and bidder, the clock
// (it jumps when a late bid extends it), the bid ladder newest first (the `bid` events on the
// room's socket; GET …/auctions/{id} once after a reload), and the result with the winner's order.
import { $, el, money, parseMoney, clock, serverNow, timeOfDay, errorText } from "./client.js";

const MAX_LADDER_SHOWN = 100;
const JUMP_SHOWN_MS = 2600;
const ITEM_ID = /^[A-Za-z0-9_-]{1,64}$/;
const INLINE = "__inline"; // the select's "another product" choice

/** Presets: the rules a host uses most (the host still picks the lot and presses Start). */
export const PRESETS = [
  { id: "extend10", label: "30 s · extend 10 s", duration_s: 30, extend_s: 10 },
  { id: "sudden30", label: "30 s · sudden death", duration_s: 30, extend_s: 0 },
  { id: "extend15", label: "60 s · extend 15 s", duration_s: 60, extend_s: 15 },
];

const yuan = (cents) => (cents % 100 === 0 ? String(cents / 100) : (cents / 100).toFixed(2));
const rules = (a) => `from ${money(a.start_cents)}, +${money(a.increment_cents)} a bid · ${a.extend_s > 0 ? `late bids add ${a.extend_s} s` : "sudden death"}`;

/**
 * The card. `call(path, opts)` is the panel's host API (paths under /api/rooms/{room});
 * `flash(text, kind)` tells the host what happened; `bag()` the room's products; `exists()`
 * whether the room exists; `onEnded()` runs at auction_end (the orders table has a new order).
 */
export class AuctionPanel {
  constructor({ call, flash, bag, exists = () => true, onEnded = () => {} }) {
    this.call = call;
    this.flash = flash;
    this.bag = bag;
    this.exists = exists;
    this.onEnded = onEnded;
    this.auction = null; // the current or last auction, merged from hello, events and answers
    this.ladder = []; // accepted bids, oldest first: {user, cents, ts_ms, ends_at_ms, moved_s}
    this.result = null; // {winner, cents} at auction_end
    this.prev = null; // the lot before this one: {id, title, result}, said in one line
    this.sending = false;
    this.armed = false; // a second press starts a new auction over a running one
    this.picked = false; // the host chose the lot (else the first bag product with a unit left)
    this.jumpAt = -Infinity; // when the last late bid moved the end (performance.now())
    this.jumpS = 0; // how far the last late bid moved the end
    $("#auPresets").replaceChildren(...PRESETS.map((p) => el("button", {
      type: "button", class: "preset", dataset: { preset: p.id }, onclick: () => this.preset(p),
    }, p.label)));
    const form = $("#auForm");
    form.addEventListener("input", () => { this.armed = false; this.validate(); });
    form.addEventListener("change", () => this.validate());
    form.addEventListener("submit", (e) => { e.preventDefault(); this.send(); });
    $("#auProduct").addEventListener("change", () => { this.picked = true; this.suggest(); });
    this.renderProducts();
    this.validate();
    this.render();
  }

  // -------------------------------------------------------------------------------------
  // The form.

  /** The bag changed: the lot select follows (products with no unit left are listed, disabled). */
  renderProducts() {
    const select = $("#auProduct");
    const before = select.value;
    const options = this.bag().map((p) => {
      const left = Math.max(0, p.stock_left ?? 0);
      return el("option", { value: p.id, disabled: left < 1 }, `${p.title} · ${money(p.list_price_cents)} · ${left ? `${left} left` : "none left"}`);
    });
    options.push(el("option", { value: INLINE }, "Another product (not in the bag)…"));
    select.replaceChildren(...options);
    const usable = (id) => [...select.options].some((o) => o.value === id && !o.disabled);
    if (usable(before) && (before !== INLINE || this.picked)) select.value = before;
    else {
      const first = [...select.options].find((o) => !o.disabled);
      select.value = first ? first.value : INLINE;
      if (before !== select.value) this.suggest();
    }
    this.validate();
  }

  /** A lot picked: a start price of about a third of its list price, in whole yuan, and ¥1 a bid. */
  suggest() {
    const p = this.bag().find((x) => x.id === $("#auProduct").value);
    if (p) {
      const start = Math.max(100, Math.round((p.list_price_cents * 0.3) / 100) * 100);
      $("#auStart").value = yuan(start);
      $("#auStep").value = p.list_price_cents >= 20_000 ? "5" : "1";
    }
    this.validate();
  }

  preset(p) {
    $("#auDuration").value = String(p.duration_s);
    $("#auExtend").value = String(p.extend_s);
    this.armed = false;
    this.validate();
    $("#auBtn").focus();
  }

  /** The form as the server takes it, checked as the server checks it: [body, problems]. */
  validate() {
    const problems = [];
    const lot = $("#auProduct").value;
    const inline = lot === INLINE;
    $("#auInline").hidden = !inline;
    const body = {};
    if (inline) {
      const id = $("#auPid").value.trim();
      const okId = ITEM_ID.test(id);
      $("#auPid").setAttribute("aria-invalid", okId ? "false" : "true");
      if (!okId) problems.push("Product id: 1-64 letters, digits, - or _.");
      const title = $("#auPtitle").value.trim();
      const okTitle = title.length >= 1 && title.length <= 100 && !/[\u0000-\u001f\u007f]/.test(title);
      $("#auPtitle").setAttribute("aria-invalid", okTitle ? "false" : "true");
      if (!okTitle) problems.push("Title: 1-100 characters.");
      const list = centsIn("#auPprice", "List price", 0, 1_000_000_000, problems);
      const image = $("#auPimage").value.trim();
      const okImage = !image || (/^(https?:\/\/|\/)/.test(image) && !/\s/.test(image) && image.length <= 2000);
      $("#auPimage").setAttribute("aria-invalid", okImage ? "false" : "true");
      if (!okImage) problems.push("Image URL: an http(s) URL or a path starting with /.");
      body.product = { id, title, list_price_cents: list };
      if (image) body.product.image_url = image;
    } else if (lot) {
      body.product_id = lot;
    } else {
      problems.push("Pick a lot: a bag product, or another product.");
    }
    body.start_cents = centsIn("#auStart", "Start price", 0, 1_000_000_000, problems);
    body.increment_cents = centsIn("#auStep", "Increment", 1, 1_000_000_000, problems);
    body.duration_s = intIn("#auDuration", "Duration", 5, 3600, problems);
    body.extend_s = intIn("#auExtend", "Extend", 0, 60, problems);
    body.starts_in_s = intIn("#auStartsIn", "Starts in", 0, 86_400, problems);
    $("#auProblems").replaceChildren(...problems.map((p) => el("li", {}, p)));
    const running = this.running();
    const button = $("#auBtn");
    button.disabled = problems.length > 0 || this.sending || !this.exists();
    button.textContent = this.sending ? "Starting…" : running && this.armed ? "Press again: end the running one and start" : "Start auction";
    button.dataset.armed = running && this.armed ? "1" : "";
    $("#auHint").textContent = running
      ? "An auction is running: starting another ends it now (its highest bid wins)."
      : body.extend_s === 0 ? "Sudden death: the end never moves." : Number.isInteger(body.extend_s)
        ? `A bid with less than ${body.extend_s} s left moves the end to ${body.extend_s} s after it.` : "";
    return problems.length ? [null, problems] : [body, problems];
  }

  async send() {
    const [body] = this.validate();
    if (!body || this.sending) return;
    if (this.running() && !this.armed) {
      this.armed = true; // one press more: the running auction would end now
      this.validate();
      return;
    }
    this.armed = false;
    this.sending = true;
    this.validate();
    try {
      const auction = await this.call("/auctions", { method: "POST", body });
      this.take(auction, { fresh: true });
      this.flash(`Auction started: ${auction.product.title}, ${rules(auction)}.`, "ok", 3000);
    } catch (err) {
      this.flash(`Auction: ${this.refusal(err)}`);
    } finally {
      this.sending = false;
      this.validate();
    }
  }

  refusal(err) {
    if (err.code === "sold_out") return "no unit of that product is left in the bag.";
    if (err.code === "no_such_product") return "that product is no longer in the bag.";
    if (err.code === "conflict") return `${err.message || "not possible right now"}.`;
    if (err.code === "bad_request") return `the server refused it: ${err.message || "check the fields"}.`;
    return errorText(err);
  }

  // -------------------------------------------------------------------------------------
  // The auction: events and answers.

  running() {
    return Boolean(this.auction && this.auction.state !== "ended" && !this.result);
  }

  /** hello: the room's current or last auction (or null); its ladder is read once. */
  async hello(auction) {
    if (!auction) { this.render(); return; }
    this.take(auction, { fresh: this.auction?.id !== auction.id });
    if (auction.state === "ended" && !this.result) {
      this.result = { winner: auction.high_bidder, cents: auction.high_cents };
    }
    try {
      const body = await this.call(`/auctions/${encodeURIComponent(auction.id)}`);
      if (this.auction?.id !== auction.id) return;
      const { ladder = [], ...object } = body;
      const known = new Set(this.ladder.map((b) => b.cents));
      for (const b of [...ladder].reverse()) if (!known.has(b.cents)) this.ladder.push({ ...b });
      this.ladder.sort((x, y) => x.cents - y.cents);
      this.take(object, { fresh: false });
    } catch (err) {
      $("#auLadderNote").textContent = errorText(err);
    }
    this.render();
  }

  event(ev) {
    if (ev.t === "auction" && ev.auction) {
      this.take(ev.auction, { fresh: this.auction?.id !== ev.auction.id });
    } else if (ev.t === "bid" && this.auction?.id === ev.auction) {
      this.takeBid({ user: ev.user, cents: ev.cents, ends_at_ms: ev.ends_at_ms, ts_ms: serverNow() });
    } else if (ev.t === "auction_end" && this.prev?.id === ev.auction) {
      // A new auction replaced it (the POST's answer came before the old one's end).
      this.prev.result = { winner: ev.winner, cents: ev.cents };
      this.render();
      this.onEnded();
    } else if (ev.t === "auction_end" && this.auction?.id === ev.auction) {
      this.result = { winner: ev.winner, cents: ev.cents };
      this.auction = { ...this.auction, state: "ended" };
      if (ev.winner) { this.auction.high_bidder = ev.winner; this.auction.high_cents = ev.cents; }
      this.render();
      this.validate();
      this.onEnded();
    }
  }

  /** An auction object: a new one starts a new ladder; the same one merges (bids only rise). */
  take(a, { fresh }) {
    if (fresh || this.auction?.id !== a.id) {
      if (this.auction && this.auction.id !== a.id) {
        this.prev = { id: this.auction.id, title: this.auction.product.title, result: this.result };
      }
      this.auction = { ...a };
      this.ladder = [];
      this.result = a.state === "ended" ? { winner: a.high_bidder, cents: a.high_cents } : null;
      this.baseEnd = a.bids ? null : a.ends_at_ms; // the end before any bid, when known
    } else {
      const old = this.auction;
      const merged = { ...old, ...a };
      if ((old.high_cents ?? -1) > (a.high_cents ?? -1)) { merged.high_cents = old.high_cents; merged.high_bidder = old.high_bidder; }
      merged.bids = Math.max(old.bids || 0, a.bids || 0);
      merged.ends_at_ms = Math.max(old.ends_at_ms, a.ends_at_ms);
      if (old.state === "ended" || this.result) merged.state = "ended";
      else if (old.state === "live" && a.state === "upcoming") merged.state = "live";
      this.auction = merged;
    }
    this.render();
    this.validate();
  }

  takeBid(bid) {
    const a = this.auction;
    if (this.ladder.some((b) => b.cents === bid.cents)) return; // bids strictly rise: one per amount
    this.ladder.push({ ...bid });
    this.ladder.sort((x, y) => x.cents - y.cents);
    if (bid.cents > (a.high_cents ?? -1)) {
      a.high_cents = bid.cents;
      a.high_bidder = bid.user;
      a.bids = Math.max((a.bids || 0) + 1, this.ladder.length);
      if (a.state === "upcoming") a.state = "live";
    }
    if (bid.ends_at_ms > a.ends_at_ms) {
      this.jumpS = Math.round((bid.ends_at_ms - a.ends_at_ms) / 1000);
      a.ends_at_ms = bid.ends_at_ms;
      this.jumpAt = performance.now();
    }
    this.render();
  }

  /** Twice a second: the clock. */
  tick() {
    if (this.auction) this.renderClock();
  }

  // -------------------------------------------------------------------------------------
  // Drawing.

  render() {
    const a = this.auction;
    const badge = $("#auState");
    $("#auLive").hidden = !a;
    if (!a) { badge.dataset.status = ""; badge.textContent = "none"; return; }
    const shown = this.shownState();
    badge.dataset.status = shown;
    badge.textContent = shown;
    $("#auLive").dataset.state = shown;
    $("#auImg").src = a.product.image_url || "/static/img/product.svg";
    $("#auTitle").textContent = a.product.title;
    $("#auRules").textContent = rules(a);
    const bidded = a.high_cents !== null && a.high_cents !== undefined;
    $("#auHigh").textContent = bidded ? money(a.high_cents) : "none yet";
    $("#auHigh").dataset.none = bidded ? "" : "1";
    $("#auBidder").textContent = bidded ? a.high_bidder?.name || a.high_bidder?.id || "?" : "–";
    $("#auBids").textContent = String(Math.max(a.bids || 0, this.ladder.length));
    this.renderClock();
    this.renderResult();
    this.renderLadder();
    this.renderPrev();
  }

  renderPrev() {
    const p = this.prev;
    const box = $("#auPrev");
    box.hidden = !p;
    if (!p) return;
    const r = p.result;
    box.textContent = !r ? `Last lot: ${p.title}, ending…`
      : r.winner ? `Last lot: ${p.title}, sold to ${r.winner.name || r.winner.id} for ${money(r.cents)} (order won-${p.id}).`
        : `Last lot: ${p.title}, no bids.`;
  }

  shownState() {
    const a = this.auction;
    if (this.result || a.state === "ended") return "ended";
    if (a.state === "upcoming" && serverNow() < a.starts_at_ms) return "upcoming";
    return "live";
  }

  renderResult() {
    const box = $("#auResult");
    const r = this.result;
    box.hidden = !r;
    if (!r) return;
    const a = this.auction;
    if (r.winner) {
      const order = `won-${a.id}`;
      box.dataset.kind = "sold";
      box.replaceChildren(
        el("b", {}, `Sold to ${r.winner.name || r.winner.id} for ${money(r.cents)}`),
        el("span", { class: "hint" }, "Order ", el("code", { class: "au-order" }, order), " · in the orders table"));
    } else {
      box.dataset.kind = "unsold";
      box.replaceChildren(el("b", {}, "Ended with no bids"),
        el("span", { class: "hint" }, a.product && this.bag().some((p) => p.id === a.product.id) ? "The unit went back to the bag." : "Nothing was sold."));
    }
  }

  renderLadder() {
    const newest = this.ladder.slice(-MAX_LADDER_SHOWN).reverse();
    const rows = newest.map((b, i) => {
      const before = newest[i + 1]?.ends_at_ms ?? this.baseEnd; // the end this bid found
      const moved = before ? Math.round((b.ends_at_ms - before) / 1000) : 0;
      return el("li", { class: "au-rung", dataset: { user: b.user?.id, cents: b.cents } },
        el("time", { class: "num" }, timeOfDay(b.ts_ms)),
        el("b", { class: "au-who" }, b.user?.name || b.user?.id || "?"),
        moved > 0 ? el("span", { class: "au-moved num", title: "This late bid moved the end" }, `+${moved} s`) : el("span", {}),
        el("span", { class: "au-cents num" }, money(b.cents)));
    });
    if (!rows.length) rows.push(el("li", { class: "muted empty" }, this.result ? "Nobody bid." : "No bids yet."));
    $("#auLadder").replaceChildren(...rows);
    $("#auLadderNote").textContent = this.ladder.length > MAX_LADDER_SHOWN ? `the newest ${MAX_LADDER_SHOWN} of ${this.ladder.length}` : "newest first";
  }

  renderClock() {
    const a = this.auction;
    const shown = this.shownState();
    const now = serverNow();
    let text;
    if (shown === "ended") text = "over";
    else if (shown === "upcoming") text = `starts in ${clock(a.starts_at_ms - now)}`;
    else text = a.ends_at_ms > now ? `ends in ${clock(a.ends_at_ms - now)}` : "closing…";
    $("#auClock").textContent = text;
    $("#auClock").dataset.urgent = shown === "live" && a.ends_at_ms - now <= 10_000 ? "1" : "";
    const jump = $("#auJump");
    const moved = shown !== "ended" && performance.now() - this.jumpAt < JUMP_SHOWN_MS;
    jump.hidden = !moved;
    if (moved) jump.textContent = `+${this.jumpS} s`;
    if ($("#auState").dataset.status !== shown) this.render();
  }
}

function intIn(sel, name, lo, hi, problems) {
  const input = $(sel);
  const text = input.value.trim();
  const value = Number(text);
  const ok = /^\d+$/.test(text) && value >= lo && value <= hi;
  input.setAttribute("aria-invalid", ok ? "false" : "true");
  if (!ok) problems.push(`${name} must be a whole number from ${lo.toLocaleString("en-US")} to ${hi.toLocaleString("en-US")}.`);
  return value;
}

function centsIn(sel, name, lo, hi, problems) {
  const input = $(sel);
  const cents = parseMoney(input.value);
  const ok = cents !== null && cents >= lo && cents <= hi;
  input.setAttribute("aria-invalid", ok ? "false" : "true");
  if (!ok) problems.push(`${name} must be an amount from ${money(lo)} to ${money(hi)}.`);
  return ok ? cents : null;
}
