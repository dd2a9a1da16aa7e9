"""The completion families parser_fuzz.py draws from: valid actions as a model might format
them, model-like wrong values, character mutations, the usual small-model faults, wrappers
(prose, fences, think blocks, harmony channels), truncations, junk, huge and unicode inputs
and non-strings. Each function takes a seeded `random.Random` (and an observation)."""

from __future__ import annotations

import json
import random

from glade.env import standin
from glade.env.market import SIDES

# ---- building blocks -----------------------------------------------------------------

# fmt: off
WORDS = ("the", "honey", "I", "will", "sell", "buy", "orders", "price", "qty", "good", "side", "pebbles",
         "winter", "is", "coming", "Thorn", "Oona", "trade", "json", "answer", "{", "}", "[", "]", ":",
         ",", '"', "'", "ok", "Let", "me", "think", "about", "it", "firewood", "acorns", "berries")
JSONISH = '{}[]":,\'\\ \n\t0123456789.-eE+truefalsenull'
CONTROL = "".join(chr(c) for c in range(32)) + "\x7f"
UNICODE_BITS = ("é", "ñ", "ß", "İ", "ı", "ﬁ", "Å", "Å", "😀", "🍯", "🌲", "𝓱𝓸𝓷𝓮𝔂", "汉字", "ハチミツ", "мёд",
                "עסקה", "\u200f", "\u200b", "\u2028", "\u2029", "\ufeff", "\u00a0", "\u0301", "｛", "｝", "＂", "：",
                "，", "［", "］", "“", "”", "‘", "’", "«", "»", "\ud800", "\udfff", "\U0010ffff", "\x00")
SIDE_WORDS = ("buy", "sell", "Buy", "SELL", " bid ", "ask", "offer", "purchase", "hold", "trade", "", "b")
NUMBER_JUNK = ("NaN", "Infinity", "-Infinity", "1e999", "-0", "0", "-5", "1e-400", "0.0000001", "1e308",
               "9" * 5000, "1" + "0" * 400, "3.", ".5", "0x10", "1_000", "١٢", "true", "null", "[]", "{}",
               '"3 pebbles"', '"4.5"', '"three"', '""', "2.5", "500", "501", "100000")
# fmt: on


def goods_of(obs: dict) -> list[str]:
    return list(obs["inventory"])


def random_order(rng: random.Random, obs: dict) -> dict:
    goods = goods_of(obs)
    good = rng.choice(goods)
    price = float(obs["prices"][good])
    return {
        "side": rng.choice(SIDES),
        "good": good,
        "qty": rng.choice((1, 2, 3, 5, 10, int(obs["inventory"][good]) or 1, rng.randint(1, 40))),
        "price": round(price * rng.uniform(0.5, 1.6), rng.choice((0, 1, 2, 3))),
    }


def valid_action(rng: random.Random, obs: dict) -> dict:
    """A plausible action: the stand-in's, or random orders, with optional gossip/thought."""
    if rng.random() < 0.5:
        action = standin.act(obs, standin.disposition(rng.choice(tuple(standin.DISPOSITIONS))), rng.randrange(99))
    else:
        action = {"orders": [random_order(rng, obs) for _ in range(rng.randint(0, 4))]}
    if rng.random() < 0.4:
        action["gossip"] = rng.choice(("Honey is cheap today.", "Thorn hoards wood!", "", "  ", "x" * 500))
    if rng.random() < 0.2:
        action["thought"] = rng.choice(("sell high", "winter is near " * 300, ""))
    return action


def dump(rng: random.Random, value) -> str:
    style = rng.randrange(5)
    if style == 0:
        return json.dumps(value)
    if style == 1:
        return json.dumps(value, separators=(",", ":"))
    if style == 2:
        return json.dumps(value, indent=rng.choice((1, 2, 4)))
    if style == 3:
        return json.dumps(value, ensure_ascii=False, indent=None, separators=(", ", ": "))
    return json.dumps(value, indent="\t", sort_keys=True)


def wrap(rng: random.Random, body: str) -> str:
    kind = rng.randrange(12)
    if kind == 0:
        return f"```json\n{body}\n```"
    if kind == 1:
        return f"Here is my action:\n{body}\nI hope that works."
    if kind == 2:
        return f"<think>I should sell some honey {{maybe}} [or not].</think>\n{body}"
    if kind == 3:
        return f"<think>unfinished thought with {body}"  # never closed: no final answer
    if kind == 4:
        return (
            f'<|start|>assistant<|channel|>analysis<|message|>Consider {{"orders": []}}.<|end|>'
            f"<|start|>assistant<|channel|>final<|message|>{body}<|return|>"
        )
    if kind == 5:
        return f"analysisWe think.assistantfinal{body}"
    if kind == 6:
        return f"{body}<|im_end|>"
    if kind == 7:
        return f'First idea: {{"orders": [{{"side": "sell", "good": "honey", "qty": 1, "price": 9}}]}}\nFinal: {body}'
    if kind == 8:
        return f"{body}\n{body}"
    if kind == 9:
        return f"~~~\n{body}\n~~~ and then {{ some prose }}"
    if kind == 10:
        return f"Sure! {{{{{{ }}}} [1, 2] {body} [[[["
    return f"   \n\n{body}\n\n   "


def mutate_chars(rng: random.Random, text: str, edits: int) -> str:
    chars = list(text)
    for _ in range(edits):
        if not chars:
            chars.append(rng.choice(JSONISH))
            continue
        i = rng.randrange(len(chars))
        op = rng.randrange(6)
        if op == 0:
            del chars[i]
        elif op == 1:
            chars.insert(i, rng.choice(JSONISH))
        elif op == 2:
            chars[i] = rng.choice(JSONISH)
        elif op == 3 and i + 1 < len(chars):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        elif op == 4:
            j = min(len(chars), i + rng.randint(1, 12))
            chars[i:i] = chars[i:j]  # duplicate a slice
        else:
            chars.insert(i, rng.choice(UNICODE_BITS + tuple(CONTROL)))
    return "".join(chars)


def structural(rng: random.Random, obs: dict) -> str:
    """The usual faults of small models, each applied to a valid action."""
    action = valid_action(rng, obs)
    if not action["orders"]:
        action["orders"] = [random_order(rng, obs)]
    text = json.dumps(action)
    kind = rng.randrange(16)
    if kind == 0:
        return text.replace('"', "'")
    if kind == 1:
        return text.replace('"', "“", 1).replace('"', "”", 1).replace('"', "‘").replace("‘", "’", 3)
    if kind == 2:
        for key in ("orders", "side", "good", "qty", "price", "gossip", "thought"):
            text = text.replace(f'"{key}"', key)
        return text
    if kind == 3:
        return text.replace("true", "True").replace("]", ", ]").replace("}", ", }") + rng.choice(("", "None", "False"))
    if kind == 4:
        return text.replace(", ", " ", rng.randint(1, 5))
    if kind == 5:  # words for sides, loose good names, numbers as strings
        order = action["orders"][0]
        order["side"] = rng.choice(SIDE_WORDS)
        g = order["good"]
        order["good"] = rng.choice(
            (g.upper(), g[:-1], g.rstrip("s"), g[:-3] + "y", f" {g} ", g.title(), "gold", 7, None, ["honey"])
        )
        order["qty"] = rng.choice(
            (str(order["qty"]), f"{order['qty']}.0", float(order["qty"]), -order["qty"], 0, True, 10**6, 2.5)
        )
        order["price"] = rng.choice(
            (f"{order['price']} pebbles", str(order["price"]), "1 pebble", -1, 0, False, [1], None)
        )
        return json.dumps(action)
    if kind == 6:  # a raw number token that JSON may not accept
        return text.replace(str(action["orders"][0]["price"]), rng.choice(NUMBER_JUNK), 1)
    if kind == 7:
        return text.replace(str(action["orders"][0]["qty"]), rng.choice(NUMBER_JUNK), 1)
    if kind == 8:  # wrong container types
        return json.dumps(
            rng.choice(
                (
                    {"orders": action["orders"][0]},
                    {"orders": "buy honey"},
                    {"orders": 5},
                    {"orders": None},
                    {"orders": [1, "x", None, [], {}]},
                    {"order": action["orders"]},
                    action["orders"][0],
                    action["orders"],
                    [action],
                    {"orders": [[o] for o in action["orders"]]},
                    {"Orders": action["orders"]},
                    {"orders": action["orders"], "gossip": 5, "thought": ["a"]},
                    {"orders": action["orders"], "gossip": None},
                )
            )
        )
    if kind == 9:  # too many orders, both sides of one good, over-selling, over-spending
        goods = goods_of(obs)
        orders = [
            {
                "side": rng.choice(SIDES),
                "good": rng.choice(goods),
                "qty": rng.randint(1, 600),
                "price": round(rng.uniform(0.01, 900), 2),
            }
            for _ in range(rng.randint(5, 40))
        ]
        return json.dumps({"orders": orders})
    if kind == 10:  # duplicate keys; the last wins in JSON
        return text.replace('"orders": ', '"orders": [], "orders": ', 1)
    if kind == 11:  # escapes in strings
        return text.replace("gossip", "gos\\sip").replace('": "', '": "\\x41\\u12\\\n\t', 1)
    if kind == 12:  # a self-buy: buy what it makes
        made = [g for g in goods_of(obs) if obs["produces"][g]] or goods_of(obs)
        return json.dumps({"orders": [{"side": "buy", "good": made[0], "qty": 1, "price": 1.0}]})
    if kind == 13:  # key case and spacing
        return text.replace('"side"', '"Side"').replace('"qty"', '"quantity"', rng.randrange(2))
    if kind == 14:  # comments and trailing garbage
        return text.replace("[", "[ // my orders\n", 1) + " /* done */"
    return text.replace("{", "{ ", 1).replace(":", " :\n", 3).replace(",", ",,", rng.randrange(2))


def random_text(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return "".join(rng.choice(" abcdefghijklmnopqrstuvwxyz.,!?\n") for _ in range(rng.randint(0, 400)))
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 120)))


def junk(rng: random.Random) -> str:
    kind = rng.randrange(10)
    n = rng.randint(1, 3000)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(n)).decode("latin-1")
    if kind == 1:
        return "".join(rng.choice(CONTROL) for _ in range(n))
    if kind == 2:
        return "".join(rng.choice("{}[]") for _ in range(n))
    if kind == 3:
        return "[" * n + "]" * rng.randrange(n + 1)
    if kind == 4:
        return '{"orders":' * n
    if kind == 5:
        return "".join(rng.choice("\"'\\“”‘’") for _ in range(n))
    if kind == 6:
        return "".join(rng.choice(JSONISH) for _ in range(n))
    if kind == 7:
        return "{" + ",".join(f'"k{i}": {i}' for i in range(n)) + "}"
    if kind == 8:
        return '{"orders": [' + "," * n + "]}"
    return rng.choice(
        (
            "",
            " ",
            "\n",
            "{",
            "}",
            "[",
            "]",
            "{}",
            "[]",
            '"',
            "null",
            "0",
            '{"orders"',
            "{'",
            "```",
            "<think>",
            "</think>",
            "<|channel|>final",
            "assistantfinal",
            "<|im_end|>",
            "\\",
            '{"orders": [}',
        )
    )


def huge(rng: random.Random, obs: dict) -> str:
    body = json.dumps(valid_action(rng, obs))
    size = rng.choice((30_000, 200_000, 1_000_000, 2_000_000))
    kind = rng.randrange(9)
    if kind == 0:
        return ("blah " * (size // 5)) + body  # the answer after the read window
    if kind == 1:
        return body + (" blah" * (size // 5))
    if kind == 2:
        return "[" * size
    if kind == 3:
        return "{" * size
    if kind == 4:
        return '{"orders": [], "gossip": "' + "a" * size + '"}'
    if kind == 5:
        return '{"orders": [{"side": "buy", "good": "honey", "qty": ' + "9" * size + ', "price": 1}]}'
    if kind == 6:
        return " ".join('{"orders": []}' for _ in range(size // 15))
    if kind == 7:
        return "<think>" + "hmm " * (size // 4) + "</think>" + body
    return '{"a": ' * (size // 6) + "1" + "}" * (size // 6)


def unicode_text(rng: random.Random, obs: dict) -> str:
    kind = rng.randrange(5)
    if kind == 0:  # random code points from every plane, surrogates included
        return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randint(1, 300)))
    if kind == 1:
        action = valid_action(rng, obs)
        action["gossip"] = "".join(rng.choice(UNICODE_BITS) for _ in range(rng.randint(1, 300)))
        return json.dumps(action, ensure_ascii=rng.random() < 0.5)
    if kind == 2:  # full-width and look-alike punctuation
        text = json.dumps(valid_action(rng, obs))
        table = str.maketrans({"{": "｛", "}": "｝", '"': "＂", ":": "：", ",": "，", "[": "［", "]": "］"})
        return text.translate(table) if rng.random() < 0.5 else text.replace('"', "«", 2)
    if kind == 3:  # unicode good names and sides
        action = {"orders": [random_order(rng, obs)]}
        action["orders"][0]["good"] = rng.choice(
            ("hönig", "HONEY", "ｈｏｎｅｙ", "honey\u0301", "ACORNS", "acorns\u200b", "İ", "berrıes", "мёд", "🍯")
        )
        action["orders"][0]["side"] = rng.choice(("ＢＵＹ", "sell\u200b", "SELL", "buy"))
        return json.dumps(action, ensure_ascii=False)
    return mutate_chars(rng, json.dumps(valid_action(rng, obs), ensure_ascii=False), rng.randint(1, 10)) + "".join(
        rng.choice(UNICODE_BITS) for _ in range(5)
    )


def non_string(rng: random.Random, obs: dict):
    return rng.choice(
        (
            None,
            b'{"orders": []}',
            42,
            3.5,
            [],
            {},
            {"orders": []},
            valid_action(rng, obs),
            bytearray(b"{}"),
            object(),
            float("nan"),
            True,
        )
    )


# family -> (weight, generator(rng, obs))
FAMILIES = {
    "valid": (8, lambda rng, obs: dump(rng, valid_action(rng, obs))),
    "model_like": (
        10,
        lambda rng, obs: json.dumps(
            {
                "orders": [
                    {
                        "side": rng.choice(SIDE_WORDS),
                        "good": rng.choice(goods_of(obs) + ["gold", "honey ", "Berries"]),
                        "qty": rng.choice((0, 1, 3, 50, 499, 500, 501, -2, 2.0, 2.5)),
                        "price": rng.choice((0.01, 1, 2.5, 10, 99, 1e6, 0, -3)),
                    }
                    for _ in range(rng.randint(0, 10))
                ]
            }
        ),
    ),
    "mutated": (
        20,
        lambda rng, obs: mutate_chars(rng, dump(rng, valid_action(rng, obs)), rng.choice((1, 1, 2, 3, 5, 10, 30))),
    ),
    "structural": (15, structural),
    "wrapped": (
        10,
        lambda rng, obs: wrap(
            rng,
            rng.choice(
                (
                    dump(rng, valid_action(rng, obs)),
                    structural(rng, obs),
                    mutate_chars(rng, json.dumps(valid_action(rng, obs)), 2),
                )
            ),
        ),
    ),
    "truncated": (
        12,
        lambda rng, obs: (lambda t: t[: rng.randrange(len(t) + 1)])(
            wrap(rng, json.dumps(valid_action(rng, obs))) if rng.random() < 0.3 else dump(rng, valid_action(rng, obs))
        ),
    ),
    "random_text": (8, lambda rng, obs: random_text(rng)),
    "junk": (7, lambda rng, obs: junk(rng)),
    "unicode": (8, unicode_text),
    "huge": (0.5, huge),
    "non_string": (0.5, non_string),
}
