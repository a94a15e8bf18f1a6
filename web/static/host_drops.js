// The panel's Drops card (contract §10): a form with presets that POSTs a coupon or red-envelope
// drop, then the pool emptying live (drop_left and drop_end on the room's socket) and who got
// what (GET …/drops/{drop} every 1.5 s while it runs, once more at its end).
import { $, el, money, moneyShort, parseMoney, clock, serverNow, timeOfDay, errorText } from "./client.js";
import { couponText } from "./wallet.js";

const POLL_MS = 1500;
const MAX_GRABS_SHOWN = 200;

/** Presets: what a host does most, one click to fill the form (the host still presses Start). */
export const PRESETS = [
  { id: "coupons", label: "100 × ¥5 coupons", body: { kind: "coupon", count: 100, value_cents: 500, min_spend_cents: 2000, valid_s: 3600, duration_s: 60, task: "none" } },
  { id: "envelopes", label: "50 envelopes, ¥100 total", body: { kind: "envelope", count: 50, total_cents: 10000, duration_s: 30, task: "none" } },
  { id: "followers", label: "Followers only envelope", body: { kind: "envelope", count: 20, total_cents: 2000, duration_s: 60, task: "follow" } },
  { id: "chatters", label: "10 × ¥10 coupons for chatters", body: { kind: "coupon", count: 10, value_cents: 1000, min_spend_cents: 0, valid_s: 86_400, duration_s: 60, task: "chat" } },
];

const TASK_WORDS = { none: "", follow: "followers only", chat: "chatters only" };

/** "50 × red envelopes, ¥100.00 in all", "100 × ¥5 off orders of ¥20 or more". */
export function dropSummary(d) {
  const what = d.kind === "envelope" ? `${d.count} red envelope${d.count === 1 ? "" : "s"}, ${money(d.total_cents)} in all` : `${d.count} × ${couponText(d)}`;
  return TASK_WORDS[d.task] ? `${what} · ${TASK_WORDS[d.task]}` : what;
}

const yuan = (cents) => (cents % 100 === 0 ? String(cents / 100) : (cents / 100).toFixed(2));

/**
 * The card. `call(path, opts)` is the panel's host API (paths under /api/rooms/{room});
 * `flash(text, kind)` tells the host what happened; `isLive()` whether the show is live.
 */
export class DropsPanel {
  constructor({ call, flash, isLive }) {
    this.call = call;
    this.flash = flash;
    this.isLive = isLive;
    this.drop = null; // the current or last drop, merged from hello, events and polls
    this.grabs = [];
    this.pollTimer = null;
    this.polling = false;
    this.sending = false;
    $("#dropPresets").replaceChildren(...PRESETS.map((p) => el("button", {
      type: "button", class: "preset", dataset: { preset: p.id }, onclick: () => this.preset(p),
    }, p.label)));
    const form = $("#dropForm");
    form.addEventListener("input", () => this.validate());
    form.addEventListener("change", () => this.validate());
    form.addEventListener("submit", (e) => { e.preventDefault(); this.send(); });
    this.validate();
    this.render();
  }

  // -------------------------------------------------------------------------------------
  // The form.

  kind() {
    return document.querySelector('input[name="dropKind"]:checked').value;
  }

  preset(p) {
    const b = p.body;
    document.querySelector(`input[name="dropKind"][value="${b.kind}"]`).checked = true;
    $("#dropCount").value = String(b.count);
    $("#dropWindow").value = String(b.duration_s);
    $("#dropTask").value = b.task;
    if (b.kind === "coupon") {
      $("#dropValue").value = yuan(b.value_cents);
      $("#dropMin").value = yuan(b.min_spend_cents);
      $("#dropValid").value = String(Math.round(b.valid_s / 60));
    } else {
      $("#dropTotal").value = yuan(b.total_cents);
    }
    this.validate();
    $("#dropBtn").focus();
  }

  /** The form as the server takes it, checked as the server checks it: [body, problems]. */
  validate() {
    const kind = this.kind();
    const problems = [];
    for (const node of document.querySelectorAll("#dropForm [data-for]")) node.hidden = node.dataset.for !== kind;
    const count = intIn("#dropCount", "How many", 1, 100_000, problems);
    const duration = intIn("#dropWindow", "Grab window", 5, 3600, problems);
    const task = $("#dropTask").value;
    let body;
    if (kind === "coupon") {
      const value = centsIn("#dropValue", "Value", 1, 1_000_000, problems);
      const min = centsIn("#dropMin", "Minimum spend", 0, 100_000_000, problems, 0);
      const minutes = intIn("#dropValid", "Valid for", 1, 43_200, problems);
      body = { kind, count, value_cents: value, min_spend_cents: min, valid_s: minutes * 60, duration_s: duration, task };
    } else {
      const total = centsIn("#dropTotal", "Total", 1, 1_000_000_000, problems);
      if (total !== null && Number.isInteger(count) && count > 0 && total < count) {
        problems.push(`Total must be at least ${money(count)}: every envelope holds at least ¥0.01.`);
        $("#dropTotal").setAttribute("aria-invalid", "true");
      }
      body = { kind, count, total_cents: total, duration_s: duration, task };
    }
    const running = this.running();
    $("#dropProblems").replaceChildren(...problems.map((p) => el("li", {}, p)));
    $("#dropBtn").disabled = problems.length > 0 || running || this.sending;
    $("#dropBtn").textContent = running ? "A drop is running…" : "Start drop";
    $("#dropHint").textContent = this.isLive() ? "" : "Drops need a live show: start it first.";
    return problems.length ? [null, problems] : [body, problems];
  }

  async send() {
    const [body] = this.validate();
    if (!body || this.sending) return;
    this.sending = true;
    this.validate();
    try {
      const drop = await this.call("/drops", { method: "POST", body });
      this.grabs = [];
      this.take(drop);
      this.flash(`Drop started: ${dropSummary(drop)}.`, "ok", 3000);
    } catch (err) {
      this.flash(`Drop: ${this.refusal(err)}`);
    } finally {
      this.sending = false;
      this.validate();
    }
  }

  refusal(err) {
    if (err.code === "not_live") return "the show is not live. Start it, then drop.";
    if (err.code === "conflict") return "another drop is still running. One at a time: wait for it to end.";
    if (err.code === "bad_request") return `the server refused it: ${err.message || "check the fields"}.`;
    return errorText(err);
  }

  // -------------------------------------------------------------------------------------
  // The drop running: events and polls.

  running() {
    return Boolean(this.drop && this.drop.state === "live");
  }

  /** hello: the room's current or last drop (or null). */
  hello(drop) {
    if (!drop) { if (!this.drop) this.render(); return; }
    if (this.drop?.id !== drop.id) this.grabs = [];
    this.take(drop);
    if (drop.state !== "live") this.poll(); // the last one: who got what, once
  }

  event(ev) {
    if (ev.t === "drop" && ev.drop) {
      if (this.drop?.id !== ev.drop.id) this.grabs = [];
      this.take(ev.drop);
    } else if (ev.t === "drop_left" && this.drop?.id === ev.drop) {
      this.drop.left = Math.min(this.drop.left, ev.left);
      this.drop.claimed = this.drop.count - this.drop.left;
      this.render();
    } else if (ev.t === "drop_end" && this.drop?.id === ev.drop) {
      this.drop = { ...this.drop, state: "ended", claimed: ev.claimed, left: Math.min(this.drop.left, this.drop.count - ev.claimed) };
      this.stopPolling();
      this.render();
      this.validate();
      this.poll(); // once more: the last grabs
    }
  }

  /** A drop object (the POST's answer, hello, an event or a poll): merged so counts only move on. */
  take(drop) {
    const same = this.drop?.id === drop.id;
    const merged = same ? { ...this.drop, ...drop } : { ...drop };
    if (same) {
      merged.left = Math.min(this.drop.left, drop.left);
      if (this.drop.state === "ended") merged.state = "ended";
    }
    merged.claimed = merged.count - merged.left;
    this.drop = merged;
    if (merged.state === "live") this.startPolling();
    else this.stopPolling();
    this.render();
    this.validate();
  }

  startPolling() {
    if (this.pollTimer) return;
    this.poll();
    this.pollTimer = setInterval(() => this.poll(), POLL_MS);
  }

  stopPolling() {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
  }

  async poll() {
    const drop = this.drop;
    if (!drop || this.polling) return;
    this.polling = true;
    try {
      const body = await this.call(`/drops/${encodeURIComponent(drop.id)}`);
      if (this.drop?.id !== drop.id) return;
      const { grabs = [], ...object } = body;
      this.grabs = grabs;
      this.take(object);
    } catch (err) {
      $("#dropSum").textContent = errorText(err);
    } finally {
      this.polling = false;
    }
  }

  /** Once a second: the clock, and a window that closed without its drop_end yet. */
  tick() {
    if (!this.drop) return;
    this.renderClock();
  }

  // -------------------------------------------------------------------------------------
  // Drawing.

  render() {
    const d = this.drop;
    const badge = $("#dropState");
    $("#dropLive").hidden = !d;
    if (!d) { badge.dataset.status = ""; badge.textContent = "none"; return; }
    const live = d.state === "live";
    badge.dataset.status = live ? "live" : "ended";
    badge.textContent = live ? "live" : "ended";
    $("#dropLive").dataset.state = d.state;
    $("#dropWhat").textContent = dropSummary(d);
    const claimed = Math.max(0, d.count - d.left);
    $("#dropTaken").textContent = `${claimed} / ${d.count} taken`;
    $("#dropFill").style.width = `${d.count ? (Math.max(0, d.left) / d.count) * 100 : 0}%`; // the pool, emptying
    $("#dropFill").dataset.low = d.left <= d.count * 0.2 ? "1" : "";
    this.renderClock();
    // For envelopes, the money given out: from the grabs the server listed, which add up with
    // what is left to the total (left_cents, when the object carries it, says the same).
    const given = this.grabs.reduce((n, g) => n + (g.cents || 0), 0);
    let sum = "";
    if (d.kind === "envelope") {
      const out = d.left_cents !== undefined ? Math.max(given, d.total_cents - d.left_cents) : given;
      sum = `${money(out)} of ${money(d.total_cents)} given out`;
    } else {
      sum = `${claimed} coupon${claimed === 1 ? "" : "s"} of ${moneyShort(d.value_cents)} given out`;
    }
    $("#dropSum").textContent = live ? sum : `Ended: ${sum}`;
    const newest = this.grabs.slice(-MAX_GRABS_SHOWN).reverse();
    const rows = newest.map((g) => el("li", { class: "grab", dataset: { user: g.user?.id } },
      el("time", { class: "num" }, timeOfDay(g.ts_ms)),
      el("b", { class: "grab-who" }, g.user?.name || g.user?.id || "?"),
      el("span", { class: "grab-what num" }, g.cents !== undefined ? money(g.cents) : couponText(g.coupon || d))));
    if (!rows.length) rows.push(el("li", { class: "muted empty" }, live ? "Nobody has grabbed one yet." : "Nobody grabbed one."));
    $("#dropGrabs").replaceChildren(...rows);
    $("#dropGrabsNote").textContent = this.grabs.length > MAX_GRABS_SHOWN ? `the newest ${MAX_GRABS_SHOWN} of ${this.grabs.length}` : "";
  }

  renderClock() {
    const d = this.drop;
    if (!d) return;
    const left = d.ends_at_ms - serverNow();
    $("#dropClock").textContent = d.state !== "live" ? "over" : left > 0 ? `ends in ${clock(left)}` : "closing…";
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

function centsIn(sel, name, lo, hi, problems, empty = null) {
  const input = $(sel);
  const text = input.value.trim();
  const cents = text === "" && empty !== null ? empty : parseMoney(text);
  const ok = cents !== null && cents >= lo && cents <= hi;
  input.setAttribute("aria-invalid", ok ? "false" : "true");
  if (!ok) problems.push(`${name} must be an amount from ${money(lo)} to ${money(hi)}.`);
  return ok ? cents : null;
}
