"""What the bots say: stamped load-test lines, and a believable crowd's names and lines.

A load-test post carries its send time so every receiver can compute the
delivery latency from the text alone: ``"<line> ~<run tag><microseconds in hex>"``.
The stamp also makes every post's text unique, so the server's duplicate rule
(the same text from the same user within 30 s) never trips.
"""

from __future__ import annotations

import random

STAMP = " ~"

LOAD_LINES = (
    "hello from the load test",
    "is this still available?",
    "what sizes do you have",
    "love it",
    "how much is shipping",
    "wow",
    "can you show the back?",
    "adding to cart",
    "great price",
    "first time here",
)


def stamp(line: str, tag: str, sent_us: int) -> str:
    """A chat text carrying the run tag and the send time in microseconds."""
    return f"{line}{STAMP}{tag}{sent_us:x}"


def parse_stamp(text: str, tag: str) -> int | None:
    """The send time stamped into ``text`` by this run (``tag``), or None."""
    i = text.rfind(STAMP)
    if i < 0:
        return None
    start = i + len(STAMP)
    if text[start : start + len(tag)] != tag:
        return None
    try:
        return int(text[start + len(tag) :], 16)
    except ValueError:
        return None


# A demo crowd: first names, and lines people type under a live shopping show.
CROWD_NAMES = (
    "Maya", "Leo", "Aiko", "Sam", "Priya", "Jonas", "Chloe", "Mateo", "Nora", "Ravi",
    "Zoe", "Omar", "Lena", "Kenji", "Ines", "Theo", "Amara", "Felix", "Sofia", "Yusuf",
    "Hana", "Lucas", "Mina", "Diego",
)  # fmt: skip

CROWD_LINES = (
    "hi everyone!",
    "just joined, what did I miss?",
    "that colour is gorgeous",
    "does it come in blue?",
    "how big is it exactly?",
    "is it dishwasher safe?",
    "my sister has one, she loves it",
    "love this show",
    "can you show it closer?",
    "what's the material?",
    "hello from Lisbon",
    "waiting for the deal",
    "so cute",
    "how long does shipping take?",
    "I need this",
    "this is my third stream this week haha",
    "can't wait",
    "does it fit a large hand?",
    "the lighting is great today",
    "ok I'm convinced",
)

CROWD_PIN_LINES = (
    "ooh that's the one",
    "what's the price now?",
    "everyone post so the price drops!",
    "posting to lower the price",
    "come on chat, next tier!",
    "how many are left?",
    "buying as soon as it's live",
)

CROWD_PRICE_LINES = (
    "price dropped!!",
    "new tier, nice",
    "it's getting cheaper",
    "ok now it's a steal",
)

CROWD_BOUGHT_LINES = (
    "got one!",
    "just bought it",
    "ordered, so happy",
    "bought two, one for my mum",
)

CROWD_MISSED_LINES = (
    "sold out already??",
    "noo I missed it",
    "too slow again",
)
CROWD_DROP_LINES = (
    "red envelope!!",
    "grab grab grab",
    "coupons!! thank you",
    "got one!",
)


def crowd_line(rng: random.Random, *, pin_live: bool, recent: set[str]) -> str:
    """A plausible line, avoiding ones this person said recently (the duplicate rule)."""
    pool = CROWD_LINES + (CROWD_PIN_LINES if pin_live else ())
    for _ in range(8):
        line = rng.choice(pool)
        if line not in recent:
            return line
    return f"{rng.choice(pool)} {rng.choice(('!', ':)', 'lol', '<3', '!!'))}"
