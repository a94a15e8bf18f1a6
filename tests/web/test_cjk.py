"""Chinese and emoji text is drawn with real glyphs (no tofu boxes) in the chat, the bullets and
the product card, and a screenshot of it is kept for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support import unique_room
from tests.web.pages import PHONE, Chatter, HostApi, close, no_js_errors, open_player

pytestmark = pytest.mark.timeout(120)

LINE = "这个熊猫杯可以用洗碗机吗？🍓🐼"
TITLE = "熊猫马克杯 手绘陶瓷 🍓"

# Draws characters with an element's own computed font. A missing font shows every character
# as the same .notdef box, so two different CJK characters drawing the same pixels means tofu;
# an emoji drawn by a colour emoji font has coloured pixels, a missing one has none.
GLYPHS = """([selector, a, b, emoji]) => {
    const node = document.querySelector(selector);
    const cs = getComputedStyle(node);
    const canvas = document.createElement('canvas');
    canvas.width = 64; canvas.height = 64;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.font = `${cs.fontWeight} 40px ${cs.fontFamily}`;
    ctx.textBaseline = 'top';
    const draw = (ch) => {
        ctx.clearRect(0, 0, 64, 64);
        ctx.fillStyle = '#000';
        ctx.fillText(ch, 4, 4);
        return ctx.getImageData(0, 0, 64, 64).data;
    };
    const pa = draw(a), pb = draw(b);
    let differ = 0, ink = 0;
    for (let i = 3; i < pa.length; i += 4) { if (pa[i] !== pb[i]) differ++; if (pa[i] > 0) ink++; }
    const pe = draw(emoji);
    let coloured = 0;
    for (let i = 0; i < pe.length; i += 4) {
        const [r, g, bl, al] = [pe[i], pe[i + 1], pe[i + 2], pe[i + 3]];
        if (al > 128 && Math.max(r, g, bl) - Math.min(r, g, bl) > 60) coloured++;
    }
    const notdef = (() => { draw('\\u{10FFFD}'); return ctx.measureText('\\u{10FFFD}').width; })();
    return { differ, ink, coloured, width: ctx.measureText(a).width, notdef, font: ctx.font };
}"""


def test_chinese_and_emoji_are_drawn_with_real_glyphs(browser, server, tmp_path):
    room = unique_room("web-cjk")
    api = HostApi(server, room)
    api.live_room("熊猫好物限时秒杀")
    api.pin(
        product={
            "id": "mug-cn",
            "title": TITLE,
            "list_price_cents": 5900,
            "image_url": "/static/img/panda-mug.svg",
        }
    )
    mei = Chatter(server, room, "小美", sub="mei")
    page = open_player(browser, server, room, "Li", PHONE)
    try:
        mei.say(LINE)
        line = page.locator("#chat li", has_text=LINE)
        expect(line).to_have_count(1)
        expect(page.locator("#productTitle")).to_have_text(TITLE)
        expect(page.locator("#roomTitle")).to_have_text("熊猫好物限时秒杀")
        for selector, a, b in (
            ("#chat li.line .text", "洗", "碗"),
            ("#productTitle", "熊", "猫"),
            ("#chat li.line .who", "小", "美"),
        ):
            glyphs = page.evaluate(GLYPHS, [selector, a, b, "🍓"])
            assert glyphs["ink"] > 50, (selector, glyphs)  # something is drawn
            assert glyphs["differ"] > 50, (selector, glyphs)  # two characters, not one box twice
            assert glyphs["coloured"] > 50, (selector, glyphs)  # a colour emoji, not a box
        out = Path(os.environ.get("LIVE_SHOTS_DIR", tmp_path)) / "player-cjk.png"
        page.screenshot(path=str(out))
        assert out.stat().st_size > 10_000
        no_js_errors(page)
    finally:
        mei.close()
        close(page)
        api.close()
