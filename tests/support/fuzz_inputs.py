"""Seeded malformed inputs for the edge fuzz tests: the same seed gives the same inputs, so a failure
replays exactly. Three shapes: raw garbage (bytes, broken or hostile JSON), templates with fields
replaced by hostile values (log-forging text, out-of-range numbers, wrong types, deep nesting), and
templates with keys dropped or added."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

FORGING = ["\n", "\r\n", "\r", "\x1b[2J", "\x1b[31m", "\x00", "\u2028", "\u202e", "\x7f", "\x9b",
           "\nws_edge      | info    login  user=FORGEDADMIN", '"}\n{"event":"forged","service":"ws_edge"}']
NUMBERS: list[Any] = [0, -1, 1, 2**31 - 1, 2**31, 2**32, 2**63, 2**64, -(2**63), 10**30, 1e308, -1e308, 1e-7,
                      -0.0, 0.1, 3000.0000001, 4.9e-324, 1.5]
WORDS = ["", " ", "alice", "rb2601", "HK.00700", "SHFE", "000001", "../../etc/passwd", "%s%n%x", "' OR '1'='1",
         "null", "NaN", "Infinity", "-1", "1e999", "ｒｂ２６０１", "😀" * 3, "a" * 5000]


def hostile_text(rng: random.Random) -> str:
    parts = [rng.choice(WORDS), rng.choice(FORGING), rng.choice(WORDS)]
    rng.shuffle(parts)
    return "".join(parts)


def hostile_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return hostile_text(rng)
    if kind == 1:
        return rng.choice(NUMBERS)
    if kind == 2:
        return rng.choice([None, True, False])
    if kind == 3:
        return rng.choice(WORDS)
    if kind in (4, 5):
        return str(rng.choice(NUMBERS))
    if kind == 6:
        return [hostile_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 7:
        return {hostile_text(rng)[:20]: hostile_value(rng, depth + 1) for _ in range(rng.randrange(4))}
    return {"x": [[[{"y": hostile_value(rng, depth + 1)}]]]}


def mutate(rng: random.Random, template: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    out = dict(template)
    for key in list(out):
        roll = rng.random()
        if roll < 0.15:
            del out[key]
        elif roll < 0.5:
            out[key] = hostile_value(rng)
        elif isinstance(out[key], dict) and depth < 2:
            out[key] = mutate(rng, out[key], depth + 1)
    if rng.random() < 0.2:
        out[hostile_text(rng)[:30]] = hostile_value(rng)
    return out


def nudge(rng: random.Random, template: dict[str, Any]) -> dict[str, Any]:
    """One leaf field (at any depth) set to an edge-case number or word: mostly still a valid request."""
    out = json.loads(json.dumps(template))
    node = out
    while True:
        key = rng.choice(list(node))
        if isinstance(node[key], dict) and node[key] and rng.random() < 0.8:
            node = node[key]
            continue
        node[key] = rng.choice(NUMBERS + WORDS) if rng.random() < 0.8 else hostile_text(rng)
        return out


def garbage(rng: random.Random) -> str | bytes:
    kind = rng.randrange(7)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 200))
    if kind == 1:
        return "[" * rng.randrange(100, 5000)
    if kind == 2:
        return '{"a":' * rng.randrange(10, 2000)
    if kind == 3:
        return hostile_text(rng)
    if kind == 4:
        return json.dumps(hostile_value(rng))
    if kind == 5:
        return "{" + hostile_text(rng)
    return '{"MsgType":"' + hostile_text(rng) + '","type":"' + hostile_text(rng) + '"}'


def messages(seed: int, count: int, templates: list[dict[str, Any]]) -> Iterator[dict[str, Any] | str | bytes]:
    """``count`` inputs: a quarter garbage (text or bytes), a quarter heavily mutated templates, a quarter
    templates with one field nudged, a quarter templates as they are (those three as dicts)."""
    rng = random.Random(seed)
    for _ in range(count):
        roll = rng.random()
        if roll < 0.25:
            yield garbage(rng)
            continue
        template = rng.choice(templates)
        yield mutate(rng, template) if roll < 0.5 else nudge(rng, template) if roll < 0.75 else dict(template)


def frames(seed: int, count: int, templates: list[dict[str, Any]]) -> Iterator[str | bytes]:
    """:func:`messages` as WebSocket frames: dicts as JSON text (sometimes sent as bytes)."""
    rng = random.Random(seed + 1)
    for message in messages(seed, count, templates):
        if not isinstance(message, dict):
            yield message
            continue
        text = json.dumps(message, ensure_ascii=rng.random() < 0.5)
        yield text.encode() if rng.random() < 0.1 else text
