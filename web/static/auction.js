// The player's auction card (contract §11): the lot, the highest bid and who holds it, the clock
// on the server's clock (it jumps when a late bid extends it), quick bids and an amount of my
// own, whether I am winning or was outbid (from the `bid` events, at once), and the result.
// The server decides everything (the minimum, the end, the winner); the card shows its answers.
import { $, el, money, moneyShort, clock, serverNow, randomId, errorText, parseMoney } from "./client.js";

const TICK_MS = 250;
const URGENT_MS = 10_000; // the last seconds: the clock turns red and pulses
const JUMP_SHOWN_MS = 2600; // how long "+10 s" stays beside the clock after an extension
const LINGER_MS = 9000; // the result stays this long after auction_end
const WINNER_LINGER_MS = 30_000; // …longer for the winner, who has an order to pay
const QUICK_STEPS = [1, 2, 5]; // quick bids above the minimum, in increments
const STATE_ORDER = { upcoming: 0, live: 1, ended: 2 };

/** The lowest bid the server would take now: the start, then the highest + the increment. */
export const minBid = (a) => (a.high_cents === null || a.high_cents === undefined ? a.start_cents : a.high_cents + a.increment_cents);

/** "+10 s a late bid", "Sudden death": the auction's end rule in a few words. */
export const endRule = (a) => (a.extend_s > 0 ? `Late bids add time (${a.extend_s} s)` : "Sudden death: the end never moves");

/**
 * Merge an auction update into what we know. Bids only rise and the end only moves later, and
 * the state only moves forward, so an older `auction` event replayed after a resumed hello never
 * undoes a newer snapshot.
 */
export function mergeAuction(old, next) {
  if (!old || !next || old.id !== next.id) return next ? { ...next } : null;
  const merged = { ...old, ...next };
  if ((old.high_cents ?? -1) > (next.high_cents ?? -1)) {
    merged.high_cents = old.high_cents;
    merged.high_bidder = old.high_bidder;
  }
  merged.bids = Math.max(old.bids || 0, next.bids || 0);
  merged.ends_at_ms = Math.max(old.ends_at_ms, next.ends_at_ms);
  if ((STATE_ORDER[next.state] ?? 0) < (STATE_ORDER[old.state] ?? 0)) merged.state = old.state;
  return merged;
}

/** A refused bid in words, and the amount to offer instead (too_low names the minimum). */
export function refusal(answer, { anonymous = false } = {}) {
  switch (answer.code) {
    case "too_low": {
      const min = answer.min_cents;
      return { text: min !== undefined ? `Too low: the lowest bid now is ${money(min)}.` : "Too low: someone bid more. Try a higher amount.", offer: min ?? null };
    }
    case "ended":
      return { text: "Too late: this auction has ended." };
    case "not_started":
      return { text: "Not open yet.", until: serverNow() + (answer.retry_after_ms || 0) };
    case "no_such_auction":
      return { text: "That auction is over." };
    case "forbidden":
      return { text: "The host can't bid in their own auction." };
    case "unauthorized":
      return { text: anonymous ? "You're watching without signing in. Open your sign-in link to bid." : errorText(answer) };
    default:
      return { text: errorText(answer, { action: "bid", anonymous }) };
  }
}

/**
 * One auction at a time, as the server runs them. `request(frame)` sends a bid over the room's
 * socket and resolves with its answer (re-sent with the same id after a reconnect); `me()` is
 * hello.you; `isHost()` whether I host this room (the host does not bid); `payWithin()` the
 * room's pay_within_s; `orderOf(id)` my order of that id, once known; `openMine()` opens the
 * Mine tab; `announce(text)` speaks to a screen reader; `onEnded(text, {mine})` says the result
 * where it stays (a new auction may replace this card at once: the server ends the running one
 * when the host puts the next one up).
 */
export class AuctionCard {
  constructor({
    request, me, isHost = () => false, payWithin = () => 0, orderOf = () => null, openMine = () => {},
    announce = () => {}, onEnded = () => {},
  }) {
    this.request = request;
    this.me = me;
    this.isHost = isHost;
    this.payWithin = payWithin;
    this.orderOf = orderOf;
    this.openMine = openMine;
    this.announce = announce;
    this.onEnded = onEnded;
    this.auction = null; // merged from hello, `auction`, `bid` and my acks
    this.result = null; // {winner, cents} once auction_end came
    this.bidding = false;
    this.note = null; // {text, kind, offer, until}: the answer to my last bid, in words
    this.folded = false;
    this.jump = null; // {seconds, at}: the last time a late bid moved the end
    this.timer = null;
    this.closeTimer = null;
    this.card = $("#auction");
    $("#auFold").addEventListener("click", () => (this.result ? this.close() : this.fold(true)));
    $("#auctionChip").addEventListener("click", () => this.fold(false));
    $("#auCustom").addEventListener("submit", (e) => { e.preventDefault(); this.bidTyped(); });
    $("#auQuick").addEventListener("click", (e) => {
      const button = e.target.closest("button[data-cents]");
      if (button) this.bid(Number(button.dataset.cents));
    });
    $("#auNoteBtn").addEventListener("click", () => { if (this.note?.offer != null) this.bid(this.note.offer); });
    $("#auMine").addEventListener("click", () => this.openMine());
  }

  // -------------------------------------------------------------------------------------
  // Events in.

  /** hello: the room's current (or last, ended) auction. */
  hello(h) {
    const a = h.auction;
    if (a && a.state !== "ended" && h.room?.status !== "ended") {
      this.show(a, { fresh: false });
    } else if (this.auction && !this.result && (!a || a.id === this.auction.id)) {
      // It ended while we were away (a fresh snapshot: no auction_end will be replayed).
      if (a) this.auction = mergeAuction(this.auction, a);
      this.end({ winner: a?.high_bidder ?? this.auction.high_bidder ?? null, cents: a?.high_cents ?? this.auction.high_cents ?? null }, { told: false });
    }
  }

  event(ev) {
    if (ev.t === "auction" && ev.auction) {
      if (ev.auction.state === "ended") return;
      this.show(ev.auction, { fresh: this.auction?.id !== ev.auction.id });
    } else if (ev.t === "bid" && this.auction?.id === ev.auction) {
      this.takeBid(ev.user, ev.cents, ev.ends_at_ms);
    } else if (ev.t === "auction_end" && this.auction?.id === ev.auction) {
      this.end({ winner: ev.winner, cents: ev.cents });
    }
  }

  /** The show ended: the server ends its auction too (its auction_end follows). */
  roomEnded() {
    this.render();
  }

  /** My orders changed: the winner's line says whether to pay. */
  ordersChanged() {
    if (this.result) this.render();
  }

  // -------------------------------------------------------------------------------------
  // Showing, folding, closing.

  show(a, { fresh }) {
    if (this.auction?.id === a.id) {
      const before = this.auction.ends_at_ms;
      this.auction = mergeAuction(this.auction, a);
      this.noteJump(before);
      this.render();
      return;
    }
    clearTimeout(this.closeTimer);
    this.closeTimer = null;
    this.auction = { ...a };
    this.result = null;
    this.bidding = false;
    this.note = null;
    this.jump = null;
    this.folded = false;
    $("#auAmount").value = ""; // an amount typed for the last lot is not one for this one
    this.card.dataset.jumps = "0";
    this.card.dataset.jumpS = "";
    this.card.classList.remove("pop", "won", "outbid");
    if (fresh) {
      void this.card.offsetWidth; // restart the entrance
      this.card.classList.add("pop");
      this.announce(`Live auction: ${a.product.title}, starting at ${money(a.start_cents)}.`);
    }
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.render();
  }

  fold(on) {
    const hadFocus = this.card.contains(document.activeElement);
    this.folded = on;
    this.render();
    if (!on) $("#auFold").focus();
    else if (hadFocus) $("#auctionChip").focus(); // the focus must not be lost inside a hidden card
  }

  end(result, { told = true } = {}) {
    if (!this.auction) return;
    this.result = result;
    this.auction = { ...this.auction, state: "ended" };
    if (result.winner && result.cents !== null && result.cents !== undefined) {
      this.auction.high_bidder = result.winner;
      this.auction.high_cents = Math.max(this.auction.high_cents ?? 0, result.cents);
    }
    this.bidding = false;
    this.note = null;
    this.folded = false; // the result is worth showing, even to someone who put the card away
    const mine = this.winning();
    if (told) {
      void this.card.offsetWidth;
      this.card.classList.add("won");
      this.announce(this.resultText());
      this.onEnded(this.endedLine(), { mine });
    }
    clearTimeout(this.closeTimer);
    this.closeTimer = setTimeout(() => this.close(), mine ? WINNER_LINGER_MS : LINGER_MS);
    this.render();
  }

  close() {
    clearTimeout(this.closeTimer);
    clearInterval(this.timer);
    this.closeTimer = null;
    this.timer = null;
    this.auction = null;
    this.result = null;
    this.note = null;
    this.card.hidden = true;
    $("#auctionChip").hidden = true;
    document.body.dataset.auction = "";
  }

  tick() {
    if (!this.auction) return;
    this.renderClock();
  }

  // -------------------------------------------------------------------------------------
  // Bids.

  /** A bid the server accepted (an event, or my own ack): bids only rise, the end only moves later. */
  takeBid(user, cents, endsAtMs) {
    const a = this.auction;
    const before = a.ends_at_ms;
    const wasWinning = this.winning();
    if (cents > (a.high_cents ?? -1)) {
      a.high_cents = cents;
      a.high_bidder = user;
      a.bids = (a.bids || 0) + 1;
      if (a.state === "upcoming") a.state = "live";
    }
    if (endsAtMs) a.ends_at_ms = Math.max(a.ends_at_ms, endsAtMs);
    const me = this.me();
    if (me && user?.id === me.id) this.keepBid();
    this.noteJump(before);
    if (wasWinning && !this.winning() && a.high_bidder) {
      this.card.classList.remove("outbid");
      void this.card.offsetWidth;
      this.card.classList.add("outbid");
      this.announce(`Outbid by ${a.high_bidder.name}: the highest bid is ${money(a.high_cents)}.`);
    }
    // A note about an older minimum would mislead once someone bid again.
    if (this.note?.offer != null && this.note.offer < minBid(a)) this.note = null;
    this.render();
  }

  noteJump(beforeMs) {
    const moved = this.auction.ends_at_ms - beforeMs;
    if (moved >= 500) {
      this.jump = { seconds: Math.round(moved / 1000), at: performance.now() };
      // Kept on the card for tests and tools: how often, and how far, the end moved.
      this.card.dataset.jumps = String(Number(this.card.dataset.jumps || 0) + 1);
      this.card.dataset.jumpS = String(this.jump.seconds);
      const badge = $("#auJump");
      badge.classList.remove("show");
      void badge.offsetWidth;
      badge.classList.add("show");
    }
  }

  phase() {
    const a = this.auction;
    if (this.result || a.state === "ended") return "ended";
    const now = serverNow();
    if (a.state === "upcoming" && now < a.starts_at_ms) return "upcoming";
    if (now >= a.ends_at_ms) return "closing";
    return "live";
  }

  winning() {
    const me = this.me();
    return Boolean(me && this.auction?.high_bidder?.id === me.id);
  }

  bidTyped() {
    const input = $("#auAmount");
    const cents = parseMoney(input.value);
    if (cents === null) {
      this.note = { text: "Type an amount, like 25 or 25.50.", kind: "error" };
      this.render();
      input.focus();
      return;
    }
    this.bid(cents).then((ok) => { if (ok) input.value = ""; });
  }

  async bid(cents) {
    const a = this.auction;
    if (!a || this.bidding || this.isHost()) return false;
    const me = this.me();
    if (!me) {
      this.note = refusal({ code: "unauthorized" }, { anonymous: true });
      this.note.kind = "error";
      this.render();
      return false;
    }
    const phase = this.phase();
    if (phase === "upcoming") {
      this.note = { text: "Not open yet.", until: a.starts_at_ms, kind: "wait" };
      this.render();
      return false;
    }
    if (phase === "ended" || phase === "closing") return false;
    this.bidding = true;
    this.note = null;
    this.render();
    // A new id per tap; the socket re-sends the same id after a reconnect, and the server
    // answers a repeated id with the same answer (never a second bid).
    const answer = await this.request({ t: "bid", id: randomId("a-"), auction: a.id, cents });
    this.bidding = false;
    if (this.auction?.id !== a.id) return false; // another auction came meanwhile
    let ok = false;
    if (answer.t === "ack" && answer.bid) {
      ok = true;
      this.takeBid(me, answer.bid.cents, answer.bid.ends_at_ms);
      this.announce(`Your bid of ${money(answer.bid.cents)} is the highest.`);
    } else if (answer.code !== "closed") { // a closed socket is told in words by the page
      this.note = { ...refusal(answer, { anonymous: !me }), kind: answer.code === "not_started" ? "wait" : "error" };
      this.announce(this.noteText());
    }
    this.render();
    return ok;
  }

  // What I bid on stays known for this person after a reload, so "Outbid" can still be said.
  key(id) {
    const me = this.me();
    return me ? `live.bid.${me.id}.${id}` : null;
  }

  iBid() {
    const key = this.auction && this.key(this.auction.id);
    return Boolean(key && localStorage.getItem(key));
  }

  keepBid() {
    const key = this.key(this.auction.id);
    if (key) localStorage.setItem(key, "1");
  }

  // -------------------------------------------------------------------------------------
  // Words.

  resultText() {
    const r = this.result;
    if (!r?.winner) return "No bids: the auction ended unsold.";
    if (this.winning()) {
      const order = this.orderOf(`won-${this.auction.id}`);
      const toPay = order ? order.state === "reserved" : this.payWithin() > 0;
      return toPay ? "You won! Pay in Mine" : "You won! It's yours: see Mine";
    }
    return `${r.winner.name} won for ${money(r.cents)}`;
  }

  /** The result in one line that names the lot, for the chat: "Ann won Rookie card for ¥23.00". */
  endedLine() {
    const r = this.result;
    const title = this.auction.product.title;
    if (!r?.winner) return `Auction over: ${title} got no bids.`;
    if (this.winning()) return `You won ${title} for ${money(r.cents)}! ${this.resultText().replace(/^You won! /, "")}.`;
    return `${r.winner.name} won ${title} for ${money(r.cents)}.`;
  }

  standingText() {
    const a = this.auction;
    if (this.isHost()) return { text: "You're the host: your viewers bid here.", kind: "host" };
    if (this.winning()) return { text: "You're winning", kind: "winning" };
    if (a.high_bidder && this.iBid()) return { text: `Outbid by ${a.high_bidder.name}`, kind: "outbid" };
    return { text: "", kind: "" };
  }

  noteText() {
    const n = this.note;
    if (!n) return "";
    if (n.until !== undefined) {
      const left = n.until - serverNow();
      return left > 0 ? `${n.text} Bidding opens in ${clock(left)}.` : `${n.text} Bidding is open now: try again.`;
    }
    return n.text;
  }

  // -------------------------------------------------------------------------------------
  // Drawing.

  render() {
    const a = this.auction;
    const chip = $("#auctionChip");
    if (!a) { this.card.hidden = true; chip.hidden = true; return; }
    const phase = this.phase();
    this.card.hidden = this.folded;
    chip.hidden = !this.folded;
    document.body.dataset.auction = this.folded ? "folded" : "open";
    this.card.dataset.phase = phase;
    this.card.dataset.auction = a.id;
    this.card.dataset.winner = phase === "ended" && this.winning() ? "me" : "";
    const img = $("#auImg");
    const src = a.product.image_url || "/static/img/product.svg";
    if (img.getAttribute("src") !== src) img.setAttribute("src", src);
    $("#auTitle").textContent = a.product.title;
    $("#auList").textContent = a.product.list_price_cents ? `List price ${money(a.product.list_price_cents)}` : "";
    const bidded = a.high_cents !== null && a.high_cents !== undefined;
    $("#auBidLabel").textContent = phase === "ended" ? (this.result?.winner ? "Winning bid" : "No bids") : bidded ? "Highest bid" : "Starting at";
    $("#auHigh").textContent = money(bidded ? a.high_cents : a.start_cents);
    $("#auBidder").textContent = bidded
      ? `${this.winning() ? "you" : a.high_bidder?.name || "?"} · ${a.bids || 1} bid${(a.bids || 1) === 1 ? "" : "s"}`
      : "No bids yet";
    $("#auRule").textContent = phase === "ended" ? "" : endRule(a);
    $("#auKicker").textContent = phase === "ended" ? (this.result?.winner ? "Sold" : "Auction over") : "Live auction";

    const standing = phase === "ended" ? { text: "", kind: "" } : this.standingText();
    const status = $("#auStatus");
    status.textContent = standing.text;
    status.dataset.kind = standing.kind;
    status.hidden = !standing.text;

    const result = $("#auResult");
    result.hidden = phase !== "ended";
    $("#auResultText").textContent = phase === "ended" ? this.resultText() : "";
    result.dataset.kind = this.winning() ? "won" : this.result?.winner ? "sold" : "unsold";
    $("#auMine").hidden = !(phase === "ended" && this.winning());
    $("#auFold").setAttribute("aria-label", phase === "ended" ? "Close" : "Hide the auction for now");
    $("#auFold").dataset.kind = phase === "ended" ? "close" : "fold";

    this.renderBids(phase);
    this.renderNote();
    this.renderClock();
  }

  renderBids(phase) {
    const a = this.auction;
    const host = this.isHost();
    const open = phase === "live" && !this.bidding;
    $("#auQuick").hidden = host || phase === "ended";
    $("#auCustom").hidden = host || phase === "ended";
    if (host || phase === "ended") return;
    const min = minBid(a);
    const amounts = [min, ...QUICK_STEPS.map((k) => min + k * a.increment_cents)];
    const buttons = $("#auQuick").querySelectorAll("button");
    amounts.forEach((cents, i) => {
      const b = buttons[i];
      b.dataset.cents = String(cents);
      if (i === 0) {
        // Before the start the clock says when; the button already shows the first price.
        b.textContent = this.bidding ? "Bidding…" : phase === "closing" ? "Closing…" : `Bid ${money(cents)}`;
      } else {
        b.textContent = moneyShort(cents);
      }
      b.setAttribute("aria-label", phase === "upcoming" ? `Bid ${money(cents)}, once it starts` : i === 0 && phase !== "live" ? b.textContent : `Bid ${money(cents)}`);
      // aria-disabled, not disabled: the focus stays on the button through "Bidding…".
      b.setAttribute("aria-disabled", open ? "false" : "true");
    });
    const input = $("#auAmount");
    input.placeholder = (min / 100).toFixed(2);
    $("#auSend").setAttribute("aria-disabled", open ? "false" : "true");
  }

  renderNote() {
    const box = $("#auNote");
    const text = this.noteText();
    box.hidden = !text;
    $("#auNoteText").textContent = text;
    box.dataset.kind = this.note?.kind || "";
    const offer = this.note?.offer;
    const button = $("#auNoteBtn");
    // Only when the server's minimum is not the one the first quick button offers already.
    button.hidden = offer == null || this.phase() !== "live" || offer === minBid(this.auction);
    if (offer != null) button.textContent = `Bid ${money(offer)}`;
  }

  renderClock() {
    const a = this.auction;
    if (!a) return;
    const phase = this.phase();
    const now = serverNow();
    const left = a.ends_at_ms - now;
    let big, label;
    if (phase === "upcoming") { big = clock(a.starts_at_ms - now); label = "Starts in"; }
    else if (phase === "ended") { big = "0:00"; label = "Ended"; }
    else if (phase === "closing") { big = "0:00"; label = "Closing…"; }
    else { big = clock(left); label = "Left"; }
    const box = $("#auClock");
    box.textContent = big;
    box.dataset.urgent = phase === "live" && left <= URGENT_MS ? "1" : "";
    $("#auClockLabel").textContent = label;
    const jump = $("#auJump");
    const showJump = this.jump && performance.now() - this.jump.at < JUMP_SHOWN_MS && phase !== "ended";
    jump.hidden = !showJump;
    if (showJump) jump.textContent = `+${this.jump.seconds} s`;
    // The clock running out (or the start coming) changes what the buttons say.
    if (this.card.dataset.phase !== phase) this.render();
    if (this.note?.until !== undefined) $("#auNoteText").textContent = this.noteText();
    const standing = phase === "ended" ? null : this.standingText();
    $("#auctionChip").textContent = phase === "ended"
      ? this.resultText()
      : `${standing?.kind === "winning" ? "Winning" : standing?.kind === "outbid" ? "Outbid" : "Auction"} · ${money(a.high_cents ?? a.start_cents)} · ${phase === "upcoming" ? `starts ${big}` : big}`;
    $("#auctionChip").dataset.kind = standing?.kind || "";
  }
}
