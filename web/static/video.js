// The player's video: WebRTC (sub-second, from the process that has the room's camera) or HLS
// (a few seconds behind, served by any process, nginx or a CDN), contract §13.
//
// Which one: `?video=webrtc` or `?video=hls` if the link asks; otherwise WebRTC while the
// server takes us (POST watch), HLS when it answers 409 with an `hls` playlist (this process
// is full, or the camera is on another one). Either falls back to the other when it fails.
// While nobody publishes (409 without `hls`) the player asks again after 2 s, then 4, 8, … up
// to 60 s; a durable `room` event or the tab coming back into view asks again at once.
//
// The delay shown is measured, not assumed: the time the picture on screen reached the
// server (HLS: the segment's program date; WebRTC: the sender's report time of the frame
// played out) against the server's clock, whose offset from ours is learnt from the
// `X-Live-Clock` header of the playlist (docs/video.md#delay).
import { api, gatheredOffer } from "./client.js";

const WAIT_FIRST_MS = 2000;
const WAIT_MAX_MS = 60_000;
const FAILED_RECENTLY_MS = 15_000; // a path that failed this recently is not fallen back to
const NTP_TO_UNIX_MS = 2_208_988_800_000;
const HLS_JS = "/vendor/hls.js/hls.light.min.mjs";

export const PATH_WORDS = { webrtc: "WebRTC", hls: "HLS" };

/** How far this browser's clock is behind the server's, from a few HEADs of `url` (best RTT wins). */
export async function clockOffset(url, samples = 3) {
  let best = null;
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    let response;
    try {
      response = await fetch(url, { method: "HEAD", cache: "no-store" });
    } catch {
      continue;
    }
    const t1 = performance.now();
    const stamp = Number(response.headers.get("x-live-clock"));
    if (!Number.isFinite(stamp) || stamp <= 0) continue;
    const rtt = t1 - t0;
    // The server stamped somewhere in [t0, t1]: the middle is off by rtt/2 at most.
    const offset = stamp * 1000 - (performance.timeOrigin + (t0 + t1) / 2);
    if (!best || rtt < best.rttMs) best = { offsetMs: offset, rttMs: rtt };
  }
  return best;
}

export class VideoPlayer {
  /**
   * ctx: {room, element (the <video>), ask ("webrtc" | "hls" | null), live () -> bool,
   * hlsPath () -> string | null (hello.room.hls), onChange () (state, path or delay changed)}
   */
  constructor(ctx) {
    this.ctx = ctx;
    this.state = "idle"; // idle | waiting | connecting | playing
    this.path = null; // "webrtc" | "hls": what is on screen (or being connected)
    this.pc = null;
    this.hls = null; // the hls.js instance
    this.timer = null;
    this.waitMs = WAIT_FIRST_MS;
    this.again = null; // a reason to ask again as soon as the attempt under way has its answer
    this.failedAt = { webrtc: 0, hls: 0 };
    this.lastHls = null; // the playlist a 409 or hello named
    this.clock = null; // {offsetMs, rttMs}
    this.delayMs = null;
    this.log = []; // {reason, at, path} of every attempt and {wait} of every retry, for tests
    this.generation = 0; // bumped by every teardown: callbacks of an older attempt do nothing
    setInterval(() => this.measure(), 1000);
  }

  update() {
    if (!this.ctx.live()) this.stop();
    else if (this.state === "idle") this.attempt("start");
    this.ctx.onChange();
  }

  /** Ask again now (a room event, the tab shown again) if we are only waiting for a camera. */
  retryNow(reason) {
    if (!this.ctx.live()) return;
    if (this.state === "waiting") this.attempt(reason);
    else if (this.state === "connecting") this.again = reason; // this answer may predate the change
  }

  playlist() {
    return this.ctx.hlsPath() || this.lastHls;
  }

  /** The path to try: the one asked for, WebRTC by default, the other one after a failure. */
  choose() {
    const recently = (p) => Date.now() - this.failedAt[p] < FAILED_RECENTLY_MS;
    const first = this.ctx.ask === "hls" ? "hls" : "webrtc";
    const other = first === "hls" ? "webrtc" : "hls";
    if (!recently(first)) return first;
    if (other === "hls" && !this.playlist()) return first; // nothing to fall back to
    if (!recently(other)) return other;
    return first;
  }

  attempt(reason = "timer") {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.ctx.live()) return;
    if (document.hidden) { this.state = "waiting"; return; } // nobody looks: ask when shown again
    const path = this.choose();
    this.log.push({ reason, at: Date.now(), path });
    if (this.log.length > 100) this.log.shift();
    if (path === "hls") this.startHls(this.playlist() || `/hls/${encodeURIComponent(this.ctx.room)}/index.m3u8`);
    else this.startWebRtc();
  }

  // ---- WebRTC ---------------------------------------------------------------------------

  async startWebRtc() {
    this.teardown();
    const gen = this.generation;
    if (typeof RTCPeerConnection === "undefined") return this.failed("webrtc", "no WebRTC in this browser");
    this.path = "webrtc";
    this.state = "connecting";
    this.ctx.onChange();
    const pc = new RTCPeerConnection();
    this.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const stream = new MediaStream();
    const v = this.ctx.element;
    pc.ontrack = (ev) => {
      stream.addTrack(ev.track);
      if (v.srcObject !== stream) v.srcObject = stream;
      v.play().catch(() => {});
      ev.track.onended = () => { if (gen === this.generation) this.lost(); };
    };
    pc.onconnectionstatechange = () => {
      if (gen !== this.generation) return;
      if (pc.connectionState === "failed") this.state === "playing" ? this.lost() : this.failed("webrtc", "ICE failed");
      else if (pc.connectionState === "closed") this.lost();
      else if (pc.connectionState === "disconnected") {
        setTimeout(() => { if (gen === this.generation && pc.connectionState === "disconnected") this.lost(); }, 4000);
      }
    };
    try {
      const offer = await gatheredOffer(pc);
      if (gen !== this.generation) return;
      const answer = await api(`/api/rooms/${encodeURIComponent(this.ctx.room)}/watch`, { method: "POST", body: offer });
      if (gen !== this.generation) return;
      await pc.setRemoteDescription(answer);
    } catch (err) {
      if (gen !== this.generation) return;
      this.teardown();
      if (err?.status === 409 && err.body?.hls) {
        // This process takes no WebRTC viewer (full, or the camera is elsewhere): HLS.
        this.lastHls = err.body.hls;
        if (this.ctx.ask !== "webrtc") return this.startHls(err.body.hls);
        return this.failed("webrtc", "refused");
      }
      if (err?.status === 409) return this.nobody();
      return this.failed("webrtc", err?.message || "watch failed");
    }
  }

  // When the host stops, the browser may take many seconds to call the connection failed.
  // Packets that stop arriving say it sooner: 3 s without a video packet is a lost stream.
  async watchPackets(pc, gen) {
    let last = -1;
    let still = 0;
    while (gen === this.generation) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      if (gen !== this.generation) return;
      let packets = 0;
      try {
        const stats = await pc.getStats();
        stats.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") packets += s.packetsReceived || 0; });
      } catch {
        return;
      }
      still = packets === last ? still + 1 : 0;
      last = packets;
      if (still >= 3 && gen === this.generation) { this.lost(); return; }
    }
  }

  // ---- HLS ------------------------------------------------------------------------------

  async startHls(url) {
    this.teardown();
    const gen = this.generation;
    this.path = "hls";
    this.state = "connecting";
    this.lastHls = url;
    this.ctx.onChange();
    const v = this.ctx.element;
    let Hls = null;
    try {
      Hls = (await import(HLS_JS)).default;
    } catch {
      Hls = null; // not installed (scripts/setup installs it): native HLS, or WebRTC
    }
    if (gen !== this.generation) return;
    // The delay needs the server's clock; learnt once per stream, off the playlist's header.
    clockOffset(url).then((c) => { if (c && (!this.clock || c.rttMs < this.clock.rttMs)) this.clock = c; });
    if (Hls && Hls.isSupported()) {
      const hls = new Hls({
        liveSyncDurationCount: 2, // two segments behind the live edge: about 2-3 s with 1 s segments
        liveMaxLatencyDurationCount: 6,
        maxLiveSyncPlaybackRate: 1.1, // catch up by playing a little faster, not by jumping
        manifestLoadingMaxRetry: 2,
        levelLoadingMaxRetry: 4,
        enableWorker: false,
      });
      this.hls = hls;
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (gen !== this.generation || !data.fatal) return;
        // 404: the playlist is gone (the stream ended) or not there yet.
        const code = data.response?.code;
        if (this.state !== "playing" && code === 404) return this.nobody();
        this.state === "playing" ? this.lost() : this.failed("hls", data.details || "hls error");
      });
      hls.loadSource(url);
      hls.attachMedia(v);
      hls.on(Hls.Events.MANIFEST_PARSED, () => { v.play().catch(() => {}); });
    } else if (v.canPlayType("application/vnd.apple.mpegurl")) {
      v.src = url; // Safari and iOS play HLS themselves
      v.onerror = () => { if (gen === this.generation) (this.state === "playing" ? this.lost() : this.failed("hls", "native HLS failed")); };
      v.play().catch(() => {});
    } else {
      this.failed("hls", "no HLS in this browser");
    }
  }

  // ---- both ------------------------------------------------------------------------------

  /** The <video> plays: called on its `playing` and `resize` events. */
  playing() {
    if (!this.path || this.state === "playing" || this.state === "idle") return;
    this.state = "playing";
    this.waitMs = WAIT_FIRST_MS;
    this.failedAt[this.path] = 0;
    if (this.path === "webrtc") this.watchPackets(this.pc, this.generation);
    this.ctx.onChange();
    this.measure();
  }

  /** The delay of the picture on screen behind the moment it reached the server, in ms, or null. */
  async measure() {
    if (this.state !== "playing") return;
    const gen = this.generation;
    let shownAt = null; // server-clock ms at which the picture on screen reached the server
    if (this.path === "hls") {
      const v = this.ctx.element;
      if (this.hls?.playingDate) shownAt = this.hls.playingDate.getTime();
      else if (typeof v.getStartDate === "function" && Number.isFinite(v.getStartDate().getTime())) {
        shownAt = v.getStartDate().getTime() + v.currentTime * 1000;
      }
    } else if (this.pc) {
      try {
        const stats = await this.pc.getStats();
        stats.forEach((s) => {
          if (s.type === "inbound-rtp" && s.kind === "video" && s.estimatedPlayoutTimestamp) {
            shownAt = s.estimatedPlayoutTimestamp - NTP_TO_UNIX_MS;
          }
        });
      } catch {
        shownAt = null;
      }
      if (!this.clock && this.playlist()) {
        clockOffset(this.playlist()).then((c) => { if (c) this.clock = c; });
      }
    }
    if (gen !== this.generation) return;
    const before = this.delayMs;
    this.delayMs = shownAt != null && this.clock ? Math.max(0, Date.now() + this.clock.offsetMs - shownAt) : null;
    if (before !== this.delayMs) this.ctx.onChange();
  }

  /** What the person is told: ["HLS", "3.2 s"] (the delay null until known), or null when nothing plays. */
  label() {
    if (this.state !== "playing" || !this.path) return null;
    const ms = this.delayMs;
    const delay = ms == null ? null : ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
    return [PATH_WORDS[this.path], delay];
  }

  nobody() {
    // 409 without HLS: nobody publishes yet. Ask again later and later, while the room is live.
    this.teardown();
    this.path = null;
    this.state = "waiting";
    this.ctx.onChange();
    if (this.again) {
      const reason = this.again;
      this.again = null;
      this.attempt(reason);
      return;
    }
    this.retry(this.waitMs);
    this.waitMs = Math.min(WAIT_MAX_MS, this.waitMs * 2);
  }

  failed(path, why) {
    // One path did not work: the other one next (choose()), unless it failed lately too.
    this.failedAt[path] = Date.now();
    this.log.push({ failed: path, why: String(why).slice(0, 80) });
    this.teardown();
    this.path = null;
    this.state = "waiting";
    this.ctx.onChange();
    const other = path === "hls" ? "webrtc" : "hls";
    const canSwitch = Date.now() - this.failedAt[other] >= FAILED_RECENTLY_MS && (other === "webrtc" || this.playlist());
    this.retry(this.again || canSwitch ? 300 : 8000);
    this.again = null;
  }

  lost() {
    this.teardown();
    this.path = null;
    this.state = "waiting";
    this.ctx.onChange();
    this.retry(2000);
  }

  retry(ms) {
    clearTimeout(this.timer);
    this.log.push({ wait: ms });
    this.timer = setTimeout(() => this.attempt("timer"), ms);
  }

  teardown() {
    this.generation += 1;
    const pc = this.pc;
    this.pc = null;
    if (pc) pc.close();
    const hls = this.hls;
    this.hls = null;
    if (hls) hls.destroy();
    const v = this.ctx.element;
    v.onerror = null;
    if (v.srcObject) v.srcObject = null;
    if (v.getAttribute("src")) { v.removeAttribute("src"); v.load(); }
    this.delayMs = null;
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    this.again = null;
    this.teardown();
    this.path = null;
    this.state = "idle";
  }
}
