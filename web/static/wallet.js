// My red-envelope wallet and my coupons (contract §10), from the server: `GET /api/me/wallet`
// and `GET /api/me/coupons` are the truth, the personal channel's `wallet` event says when the
// balance moved. The words for a coupon and the rules of the coupon picker live here too, so
// the product card and the bag pick coupons the same way.
import { api, moneyShort, serverNow } from "./client.js";

/** "¥5 off orders of ¥20 or more", "¥5 off any order". */
export function couponText(c) {
  const off = `${moneyShort(c.value_cents)} off`;
  return c.min_spend_cents > 0 ? `${off} orders of ${moneyShort(c.min_spend_cents)} or more` : `${off} any order`;
}

/** A coupon's state as of now: the server says `unused`, but the clock may have passed its end since. */
export function couponState(c, now = serverNow()) {
  if (c.state === "unused" && c.expires_at_ms <= now) return "expired";
  return c.state || "unused";
}

/** Coupons I may use in this room now: mine, of this room, unused and unexpired. */
export const usableHere = (coupons, room, now = serverNow()) =>
  coupons.filter((c) => c.room === room && couponState(c, now) === "unused");

/**
 * Each usable coupon against an order's total before discount (what the server compares
 * `min_spend_cents` with): {coupon, ok, reason}. A coupon whose minimum is above the total is
 * listed, not hidden, with the reason in words.
 */
export function couponChoices(coupons, totalCents) {
  return coupons.map((coupon) => {
    const ok = coupon.min_spend_cents <= totalCents;
    return { coupon, ok, reason: ok ? null : `for orders of ${moneyShort(coupon.min_spend_cents)} or more` };
  });
}

/** The choice a shopper would make: the largest discount that applies, the soonest to expire of equals. */
export function bestChoice(choices) {
  const ok = choices.filter((c) => c.ok);
  ok.sort((a, b) => b.coupon.value_cents - a.coupon.value_cents || a.coupon.expires_at_ms - b.coupon.expires_at_ms);
  return ok[0] || null;
}

/** What an order costs with a coupon: never below 0, as the server reckons it. */
export const netTotal = (totalCents, coupon) => Math.max(0, totalCents - (coupon?.value_cents || 0));

/**
 * The signed-in person's wallet and coupons. `onChange()` runs after every change. A reload
 * that was overtaken by a newer one is dropped, so an older answer never undoes a newer one.
 */
export class MyWallet {
  constructor({ token, onChange = () => {} }) {
    this.token = token;
    this.onChange = onChange;
    this.cents = null; // my balance, null until known
    this.entries = []; // [{room, drop, cents, ts_ms}], newest first
    this.coupons = []; // newest first
    this.ready = { wallet: false, coupons: false };
    this.asked = { wallet: 0, coupons: 0 };
  }

  /** Everything again (each time the personal channel opens: what its events would have said). */
  load() {
    if (!this.token) return Promise.resolve();
    return Promise.all([this.loadWallet(), this.loadCoupons()]);
  }

  async loadWallet() {
    const ask = ++this.asked.wallet;
    try {
      const body = await api("/api/me/wallet", { token: this.token });
      if (ask !== this.asked.wallet) return;
      this.cents = body.cents;
      this.entries = body.entries || [];
      this.ready.wallet = true;
      this.onChange();
    } catch {
      // the next `wallet` event or the channel's next open asks again
    }
  }

  async loadCoupons() {
    const ask = ++this.asked.coupons;
    try {
      const body = await api("/api/me/coupons", { token: this.token });
      if (ask !== this.asked.coupons) return;
      this.coupons = body.coupons || [];
      this.ready.coupons = true;
      this.onChange();
    } catch {
      // as above
    }
  }

  /** A `wallet` event: the new balance at once, then the entries that explain it. */
  balance(cents) {
    this.cents = cents;
    this.onChange();
    this.loadWallet();
  }

  /** A coupon just grabbed (the grab's ack): usable at once, then the server's list. */
  grabbed(coupon, room, drop) {
    if (!this.coupons.some((c) => c.id === coupon.id)) {
      this.coupons = [{ room, drop, state: "unused", order: null, ...coupon }, ...this.coupons];
    }
    this.onChange();
    this.loadCoupons();
  }

  /** An order took a coupon (its ack): not usable any more until the server says otherwise. */
  used(couponId, orderId) {
    const c = this.coupons.find((x) => x.id === couponId);
    if (c) {
      c.state = "used";
      c.order = orderId;
    }
    this.onChange();
    this.loadCoupons();
  }

  /** Unused ones first (soonest to expire first), then used and expired ones, newest first. */
  sortedCoupons(now = serverNow()) {
    const unused = this.coupons.filter((c) => couponState(c, now) === "unused").sort((a, b) => a.expires_at_ms - b.expires_at_ms);
    const rest = this.coupons.filter((c) => couponState(c, now) !== "unused");
    return [...unused, ...rest];
  }
}
