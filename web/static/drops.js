// The player's drop card (contract §10): a red envelope or a coupon ticket over the video,
// with its countdown on the server's clock, what is left, the task if any, and one Grab button.
// The server decides everything (who gets what, when it is over); the card shows its answers.
import { $, money, moneyShort, clock, serverNow, timeOfDay, randomId, errorText } from "./client.js";
import { couponText } from "./wallet.js";

const LINGER_MS = 3500; // a result I grabbed stays this long after drop_end before the card goes
const LATE_CLOSE_MS = 5000; // past ends_at_ms with no drop_end (a snapshot that missed it): close
const TICK_MS = 250;
const FOLD_AFTER_WIN_MS = 3000; // a won card folds to its chip: the video is what people came for

/** "1 h", "30 min", "2 days": how long a grabbed coupon stays usable. */
function validFor(seconds) {
  if (seconds >= 86_400 && seconds % 86_400 === 0) return seconds === 86_400 ? "1 day" : `${seconds / 86_400} days`;
  if (seconds >= 3600 && seconds % 3600 === 0) return `${seconds / 3600} h`;
  return `${Math.max(1, Math.round(seconds / 60))} min`;
}

/** What a drop is, in one line: "50 envelopes · ¥100.00 in all", "¥5 off orders of ¥20 or more". */
export function dropWhat(drop) {
  if (drop.kind === "envelope") return `${drop.count} envelope${drop.count === 1 ? "" : "s"} · ${money(drop.total_cents)} in all`;
  return couponText(drop);
}

/** The words for what I won: "You got ¥1.37!" or the coupon. */
export function wonText(result) {
  if (result.cents !== undefined) return `You got ${money(result.cents)}!`;
  const c = result.coupon;
  return `You got a coupon: ${couponText(c)}${c.expires_at_ms ? `, until ${timeOfDay(c.expires_at_ms).slice(0, 5)}` : ""}.`;
}

/**
 * One drop at a time, as the server runs them. `request(frame)` sends a grab over the room's
 * socket and resolves with its answer (re-sent with the same id after a reconnect); `me()` is
 * hello.you; `onFollow()` follows the host (the follow task); `onChatTask()` takes the person to
 * the chat input; `hasPosted()` whether they posted in this show; `onWon(result, drop)` after a
 * won grab (the wallet and the coupons learn it); `announce(text)` speaks to a screen reader.
 */
export class DropCard {
  constructor({ request, me, onFollow, onChatTask, hasPosted = () => false, onWon = () => {}, announce = () => {} }) {
    this.request = request;
    this.me = me;
    this.onFollow = onFollow;
    this.onChatTask = onChatTask;
    this.hasPosted = hasPosted;
    this.onWon = onWon;
    this.announce = announce;
    this.drop = null; // the drop shown, merged from hello, `drop` and `drop_left`
    this.result = null; // {won: {cents} | {coupon}} or {lost: code, text}
    this.grabbing = false;
    this.tapped = false; // the person pressed Grab for this drop (the result then lingers)
    this.ended = false; // drop_end came (or the show ended)
    this.folded = false;
    this.closeTimer = null;
    this.foldTimer = null;
    this.timer = null;
    this.card = $("#drop");
    $("#grabBtn").addEventListener("click", () => this.grab());
    $("#dropFold").addEventListener("click", () => this.fold(true));
    $("#dropChip").addEventListener("click", () => this.fold(false));
    $("#dropTaskBtn").addEventListener("click", () => (this.drop?.task === "follow" ? this.onFollow() : this.onChatTask()));
  }

  // -------------------------------------------------------------------------------------
  // Events in.

  /** hello: the room's current (or last) drop, with live `left` and `state`. */
  hello(h) {
    const drop = h.drop;
    const live = drop && drop.state === "live" && h.room?.status !== "ended" && drop.ends_at_ms > serverNow();
    if (live) this.show(drop, { fresh: false });
    else if (this.drop && (!drop || drop.id === this.drop.id || drop.state !== "live")) this.end();
  }

  event(ev) {
    if (ev.t === "drop" && ev.drop) {
      if (ev.drop.state && ev.drop.state !== "live") return;
      this.show(ev.drop, { fresh: true });
    } else if (ev.t === "drop_left" && this.drop?.id === ev.drop) {
      this.drop.left = Math.min(this.drop.left, ev.left); // only ever falls: a late one never refills it
      this.render();
    } else if (ev.t === "drop_end" && this.drop?.id === ev.drop) {
      this.drop.left = Math.min(this.drop.left, Math.max(0, this.drop.count - (ev.claimed ?? this.drop.count)));
      this.end();
    }
  }

  /** The show ended: so did its drop. */
  roomEnded() {
    if (this.drop) this.end();
  }

  // -------------------------------------------------------------------------------------
  // Showing, folding, closing.

  show(drop, { fresh }) {
    if (this.drop?.id === drop.id) {
      this.drop = { ...this.drop, ...drop, left: Math.min(this.drop.left, drop.left) };
      this.render();
      return;
    }
    clearTimeout(this.closeTimer);
    this.closeTimer = null;
    this.drop = { ...drop };
    this.ended = false;
    this.grabbing = false;
    this.tapped = false;
    this.folded = false;
    clearTimeout(this.foldTimer);
    const kept = this.kept();
    this.result = kept ? { won: kept } : null;
    this.card.dataset.kind = drop.kind;
    this.card.classList.remove("pop");
    if (fresh) {
      void this.card.offsetWidth; // restart the entrance
      this.card.classList.add("pop");
      this.announce(drop.kind === "envelope" ? `Red envelopes! ${dropWhat(drop)}. Grab one.` : `Coupon drop: ${dropWhat(drop)}. Grab one.`);
    }
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.render();
  }

  fold(on) {
    clearTimeout(this.foldTimer);
    const hadFocus = this.card.contains(document.activeElement);
    this.folded = on;
    this.render();
    if (!on) $("#grabBtn").focus();
    else if (hadFocus) $("#dropChip").focus(); // the focus must not be lost inside a hidden card
  }

  /** drop_end (or the show's end): close now, or after a moment when I grabbed and see my result. */
  end() {
    if (!this.drop) return;
    this.ended = true;
    this.render();
    if (this.grabbing) return; // closes once the answer is in
    clearTimeout(this.closeTimer);
    this.closeTimer = setTimeout(() => this.close(), this.tapped || this.result?.won ? LINGER_MS : 0);
  }

  close() {
    clearTimeout(this.closeTimer);
    clearTimeout(this.foldTimer);
    clearInterval(this.timer);
    this.closeTimer = null;
    this.timer = null;
    this.drop = null;
    this.result = null;
    this.card.hidden = true;
    $("#dropChip").hidden = true;
    document.body.dataset.drop = "";
  }

  tick() {
    if (!this.drop) return;
    const late = serverNow() - this.drop.ends_at_ms;
    if (late > LATE_CLOSE_MS && !this.grabbing && !this.closeTimer) this.end();
    this.renderClock();
  }

  // -------------------------------------------------------------------------------------
  // Grabbing.

  phase() {
    if (this.grabbing) return "grabbing";
    if (this.result?.won) return "won";
    if (this.result?.lost && this.result.lost !== "task_required" && this.result.lost !== "offline") return "lost";
    if (this.ended || this.drop.left <= 0 || serverNow() >= this.drop.ends_at_ms) return "over";
    return "open";
  }

  async grab() {
    const drop = this.drop;
    if (!drop || this.phase() !== "open") return;
    const me = this.me();
    if (!me) {
      this.result = { lost: "offline", text: errorText({ code: "unauthorized" }, { action: "grab", anonymous: true }) };
      this.render();
      return;
    }
    this.grabbing = true;
    this.tapped = true;
    this.render();
    // A new id per tap (a refused grab may be tried again after the task); the socket re-sends
    // the same id after a reconnect, and the server answers a repeated id with the same answer.
    const answer = await this.request({ t: "grab", id: randomId("g-"), drop: drop.id });
    this.grabbing = false;
    if (this.drop?.id !== drop.id) return; // another drop came meanwhile
    if (answer.t === "ack" && (answer.envelope || answer.coupon)) {
      const won = answer.envelope ? { cents: answer.envelope.cents } : { coupon: answer.coupon };
      this.result = { won };
      this.keep(won);
      this.onWon(won, drop);
      this.announce(wonText(won));
      clearTimeout(this.foldTimer);
      this.foldTimer = setTimeout(() => { if (this.drop?.id === drop.id && !this.ended) this.fold(true); }, FOLD_AFTER_WIN_MS);
    } else {
      const code = answer.code || "error";
      if (code === "gone") this.drop.left = 0;
      const text = code === "gone" ? "All taken: every one was grabbed before you."
        : code === "closed" ? "" // the close itself is told in words
        : errorText(answer, { action: "grab", anonymous: !me });
      this.result = { lost: code, text };
      if (text) this.announce(text);
    }
    this.render();
    if (this.ended) this.end();
  }

  // What I won stays known for this person after a reload (the server would answer a second
  // grab with limit_reached, and the card should say what I got, not only that I had one).
  key(dropId) {
    const me = this.me();
    return me ? `live.grab.${me.id}.${dropId}` : null;
  }

  kept() {
    const key = this.drop && this.key(this.drop.id);
    if (!key) return null;
    try { return JSON.parse(localStorage.getItem(key) || "null"); } catch { return null; }
  }

  keep(won) {
    const key = this.key(this.drop.id);
    if (key) localStorage.setItem(key, JSON.stringify(won));
  }

  // -------------------------------------------------------------------------------------
  // Drawing.

  render() {
    const drop = this.drop;
    const chip = $("#dropChip");
    if (!drop) { this.card.hidden = true; chip.hidden = true; return; }
    const phase = this.phase();
    this.card.hidden = this.folded;
    chip.hidden = !this.folded;
    document.body.dataset.drop = this.folded ? "folded" : "open";
    this.card.dataset.phase = phase;
    this.card.dataset.drop = drop.id;
    const envelope = drop.kind === "envelope";
    $("#dropTitle").textContent = envelope ? "Red envelopes!" : "Coupon drop!";
    $("#dropWhat").textContent = envelope ? dropWhat(drop) : `Use within ${validFor(drop.valid_s || 3600)} of grabbing`;
    $("#dropValue").textContent = envelope ? "" : moneyShort(drop.value_cents);
    $("#dropCond").textContent = envelope ? "" : (drop.min_spend_cents > 0 ? `off orders of ${moneyShort(drop.min_spend_cents)} or more` : "off any order");
    const left = Math.max(0, drop.left);
    $("#dropLeft").textContent = left <= 0 ? "All taken" : left <= 3 ? `Only ${left} left!` : `${left} left`;
    $("#dropFill").style.width = `${drop.count ? (left / drop.count) * 100 : 0}%`;
    this.renderTask(drop, phase);
    this.renderGrab(phase);
    this.renderClock();
    const result = $("#dropResult");
    const text = this.result?.won ? wonText(this.result.won) : this.result?.text || "";
    result.hidden = !text;
    result.textContent = text;
    result.dataset.kind = this.result?.won ? "won" : "lost";
  }

  renderTask(drop, phase) {
    const box = $("#dropTask");
    const button = $("#dropTaskBtn");
    box.hidden = !drop.task || drop.task === "none" || phase === "won";
    if (box.hidden) return;
    const me = this.me();
    let text, action = null, done = false;
    if (drop.task === "follow") {
      done = Boolean(me?.follows_host);
      text = done ? "✓ You follow the host" : "Follow the host to grab";
      action = done ? null : "Follow";
    } else {
      done = this.hasPosted();
      text = done ? "✓ You posted in the chat" : "Say something in chat to grab";
      action = done ? null : "Chat";
    }
    box.dataset.done = done ? "1" : "";
    $("#dropTaskText").textContent = text;
    button.hidden = !action;
    button.textContent = action || "";
  }

  renderGrab(phase) {
    const button = $("#grabBtn");
    const words = {
      open: "Grab",
      grabbing: "Grabbing…",
      won: "Got it",
      lost: { gone: "All taken", ended: "Ended", limit_reached: "Got one" }[this.result?.lost] || "Grab",
      over: this.drop.left <= 0 ? "All taken" : "Time's up",
    };
    button.textContent = words[phase];
    button.dataset.state = phase;
    // aria-disabled, not disabled: the focus stays on the button through "Grabbing…".
    button.setAttribute("aria-disabled", phase === "open" ? "false" : "true");
    button.setAttribute("aria-label", phase === "open" ? `Grab: ${dropWhat(this.drop)}` : button.textContent);
  }

  renderClock() {
    const drop = this.drop;
    if (!drop) return;
    const left = drop.ends_at_ms - serverNow();
    const text = this.ended || left <= 0 ? "Over" : clock(left);
    $("#dropClock").textContent = text;
    $("#dropClock").dataset.urgent = !this.ended && left > 0 && left <= 10_000 ? "1" : "";
    const won = this.result?.won;
    $("#dropChip").textContent = won
      ? (won.cents !== undefined ? `You got ${money(won.cents)}` : "Coupon saved")
      : `${drop.kind === "envelope" ? "Red envelope" : "Coupon"} · ${text}`;
    // The clock running out changes what the button says (only the clock ticks between events).
    const phase = this.phase();
    if ($("#grabBtn").dataset.state !== phase) { this.card.dataset.phase = phase; this.renderGrab(phase); }
  }
}
