"""Scoring one decision against the stand-in: the one home of valid-JSON, valid-action,
agreement and self-buy scoring, used by training's held-out evaluation
(glade.train.evaluate), by lm-eval's decision task (glade/eval/lm_tasks) and by the
council's decision tables (glade.eval.rows).

Actions compare good by good: direction (buy / sell / none), signed quantity, price.
"""

from __future__ import annotations

from glade.env.jsonfix import ERRORS
from glade.seats.base import CUT_OFF

NONE = "none"
# Errors that mean "no complete, readable JSON object": jsonfix's, parse's own guard, and an
# answer the token budget cut off (what it held, if anything, the parser had to close). Any
# other named error is a readable object the parser had to cut (an oversell, an unknown
# good...): valid JSON, not a valid action.
JSON_ERRORS = frozenset((*ERRORS, "parser_fault", CUT_OFF))


def directions(action: dict, goods: list[str] | tuple[str, ...]) -> dict[str, str]:
    """The side each good is traded on ('buy', 'sell' or 'none'); a valid action has one side per good."""
    out = dict.fromkeys(goods, NONE)
    for order in action.get("orders", []):
        if order.get("good") in out:
            out[order["good"]] = order["side"]
    return out


def quantities(action: dict, goods) -> dict[str, int]:
    """Signed units per good: + bought, - sold."""
    out = dict.fromkeys(goods, 0)
    for order in action.get("orders", []):
        if order.get("good") in out:
            out[order["good"]] += int(order["qty"]) * (1 if order["side"] == "buy" else -1)
    return out


def direction_agreement(a: dict, b: dict, goods) -> float:
    """Share of goods on which both actions take the same side (none counts as a side)."""
    da, db = directions(a, goods), directions(b, goods)
    return sum(da[g] == db[g] for g in goods) / len(goods) if goods else 1.0


def self_buy(action: dict, observation: dict) -> bool:
    """The action buys a good the creature makes."""
    return any(o["side"] == "buy" and observation["produces"].get(o["good"]) for o in action["orders"])


def score(action: dict, error: str | None, observation: dict, standin_action: dict) -> dict[str, float]:
    """One parsed decision -> {valid_json, valid_action, standin_agreement, self_buy}, each in [0, 1]."""
    return {
        "valid_json": float(error not in JSON_ERRORS),
        "valid_action": float(error is None),
        "standin_agreement": float(direction_agreement(action, standin_action, list(observation["inventory"]))),
        "self_buy": float(self_buy(action, observation)),
    }
