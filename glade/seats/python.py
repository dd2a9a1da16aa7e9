"""A seat played by any Python object with a `name` and a batched `act`, from an entry point:

    {kind: python, entry_point: "module:factory", kwargs: {...}}

`factory(**kwargs)` returns the object (a `Scripted`); glade wraps it into a Policy, one
batch per object. In Python, `PythonSeat(obj)` seats such an object directly. Its `act`
gets a list of observations and returns, in order, one `Decision` or one action dict
(`{"orders": [...]}`, or the action-space form with indices) for each, or None: a hold, as
env.step takes it, named `none_is_hold` in its row's `error` and `rejected` (a forgotten
`return` answers None too, and a seat that holds every turn unawares should say so). An action dict is read
as a model's answer is (the parser checks it against its observation, with the protocol's
limits: what it cannot use is dropped with a named error: an order's reason, or, named as
env.step names them, `gossip_not_text`, `unknown_key`, and `thought_not_text`); numpy numbers in it read as
numbers, any other value JSON cannot hold as nothing (a price of NaN or of an array is a
`bad_price`), never as its str(); its row's `completion` is the answer as JSON, and its
`rejected` names what the parser cut, refused or ignored ("by": "parser"). A Decision is taken as it is, and
the Wood's rules still reject what breaks them, but its action must have the action's form
(the action-space form, indices or a tuple of orders, is rewritten with names for its row) and
finite prices. `act` gets copies of the observations: glade's own stay as the Wood made them
for the trace row and the parser, whatever the seat does to its copies.
An `act` that raises, or answers out of shape (a dict that holds itself included), is a SeatAnswerError naming the seat.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
from collections.abc import Hashable
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

import numpy as np

from glade.env.market import ORDER_KEYS
from glade.env.parallel import normalize_action
from glade.env.phases import ACTION_KEYS
from glade.env.protocol import HOLD, parse, with_article
from glade.env.schema import control_character
from glade.tracejson import canonical, dumps

from .base import (
    PARSER,
    Decision,
    Policy,
    SeatAnswerError,
    SeatSpecError,
    check_keys,
    first_line,
    parser_notes,
    utf8_text,
)


@runtime_checkable
class Scripted(Protocol):
    """What an entry point's factory returns."""

    name: str

    def act(self, observations: list[dict]) -> list[Decision | dict]: ...


@dataclass(frozen=True)
class PythonSeat:
    scripted: Scripted

    def __post_init__(self) -> None:
        name = self.scripted.name  # written as it is into rows, reports and the terminal
        if isinstance(name, str) and (control := control_character(name)):
            raise SeatSpecError(f"python seat {name!r}: its name has a {control}")

    @property
    def name(self) -> str:
        return self.scripted.name

    def act(self, observations: list[dict]) -> list[Decision]:
        try:  # copies: a seat that edits its observations must not edit the row's state or the parser's
            answers = self.scripted.act([_copied(obs) for obs in observations])
        # the user's own code (sys.exit included): named, its traceback kept as the cause (GLADE_DEBUG=1)
        except (Exception, SystemExit) as exc:
            raise SeatAnswerError(f"python seat {self.name}: act {_raised(exc, _turns(observations))}") from exc
        if not isinstance(answers, (list, tuple)) or len(answers) != len(observations):
            raise SeatAnswerError(
                f"python seat {self.name}: act must return a list with one answer per observation"
                f" ({len(observations)}), got {type(answers).__name__}"
                + (f" of {len(answers)}" if isinstance(answers, (list, tuple)) else "")
                + _turns(observations)
            )
        try:
            return [_decision(a, obs, self.name) for a, obs in zip(answers, observations)]
        except RecursionError:  # a dict or list that holds itself, or nested past Python's limit: no answer
            raise SeatAnswerError(
                f"python seat {self.name}: act returned an answer that holds itself (a cycle) or nests too deeply"
                f"{_turns(observations)}"
            ) from None

    def batch_key(self) -> Hashable:
        return id(self.scripted)

    def act_batch(self, seats: list[tuple[Policy, dict]]) -> list[Decision]:
        return self.act([obs for _, obs in seats])


def _raised(exc: BaseException, where: str = "") -> str:
    """`raised RuntimeError: its first line[ on turn 3] (set GLADE_DEBUG=1 for its traceback)`."""
    return f"raised {first_line(exc)}{where} (set GLADE_DEBUG=1 for its traceback)"


def _turns(observations: list[dict]) -> str:
    """` on turn 3` (` on turns 2, 3` for worlds at different turns) where the observations say
    it, so a seat that fails mid-episode says when; "" where they do not."""
    turns = sorted({obs.get("turn") for obs in observations if isinstance(obs, dict)} - {None})
    if not turns or not all(isinstance(x, int) for x in turns):
        return ""
    return f" on turn{'s' if len(turns) > 1 else ''} {', '.join(map(str, turns))}"


def _copied(value):
    """An observation's own copy, its dicts and arrays new (a third of copy.deepcopy's cost: no memo)."""
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value  # str, int, float: not to be changed in place


def _decision(answer: Decision | dict, obs: dict, name: str) -> Decision:
    if isinstance(answer, Decision):
        _check_fields(answer, name)
        action = _named_action(answer.action, obs)
        _check_action(action, name)
        strings = (answer.text, answer.error, answer.policy)
        # its strings as a row holds them: a lone surrogate would stop the run while the batch is written
        text, error, policy = (None if t is None else utf8_text(t) for t in strings)
        if action is answer.action and (text, error, policy) == strings:
            return answer
        return replace(answer, action=action, text=text, error=error, policy=policy)
    if isinstance(answer, dict):  # the action-space form (side and good as indices) reads as names first
        kept, ignored = _action_keys(normalize_action(answer, tuple(obs["prices"])))
        text = json.dumps(kept)
        parsed = parse(text, obs)
        notes = parser_notes(parsed) + ignored
        error = parsed.error or (ignored[0]["reason"] if ignored else None)
        # the row's `completion` is what the seat answered, as JSON, not the action parsed from it
        answered = utf8_text(json.dumps(_plain(answer), ensure_ascii=False))
        return Decision(parsed.action, answered, error, repaired=parsed.repaired, notes=notes)
    if answer is None:  # a hold, as env.step takes it, but named: a forgotten `return` reads as None too
        return Decision(dict(HOLD), "null", NONE_IS_HOLD, notes=(_ignored(NONE_IS_HOLD),))
    raise SeatAnswerError(
        f"python seat {name}: act returned {with_article(type(answer).__name__)}; expected a Decision or an action"
        f" dict, or None for a hold ({_whose(obs)})"
    )


def _whose(obs: dict) -> str:
    """`oona's answer on turn 3`, from what the observation says."""
    who = obs.get("creature") if isinstance(obs, dict) else None
    return f"{who}'s answer{_turns([obs])}" if isinstance(who, str) else f"the answer{_turns([obs])}"


NONE_IS_HOLD = "none_is_hold"  # an answer of None: held, as env.step holds it


def _action_keys(answer: dict) -> tuple[dict, tuple[dict, ...]]:
    """An action dict's keys as env.step reads them: orders, text gossip and text thought kept
    (as plain JSON values), the rest dropped with env.step's notes (and `thought_not_text`,
    which env.step need not name: the Wood never reads a thought), in the answer's order,
    marked `"by": "parser"` as the Wood never sees what they name."""
    single = "orders" not in answer and {"side", "good"} <= answer.keys()  # one order: the parser takes it
    known = ACTION_KEYS | ORDER_KEYS if single else ACTION_KEYS
    kept, notes = {}, []
    for key, value in answer.items():
        if key not in known:
            notes.append(_ignored("unknown_key", key=str(key)))
        elif key in ("gossip", "thought") and value is not None and not isinstance(value, str):
            notes.append(_ignored(f"{key}_not_text"))
        else:
            kept[key] = _plain(value)
    return kept, tuple(notes)


def _ignored(reason: str, **more: str) -> dict:
    """A dropped key's note, in env.step's form."""
    return {"order": None, "reason": reason, "outcome": "ignored", "qty": 0, **more, "by": PARSER}


def _plain(value):
    """A value as JSON can hold it: numpy numbers (scalars, 0-d arrays) as Python numbers; a
    non-finite number or anything else JSON has no form for as None, which the parser names
    (a None price is a bad_price), where str() would have made it a string the Wood reads."""
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
        value = value.item()
    if value is None or isinstance(value, (str, int)):  # bool is an int
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if isinstance(k, str)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return None


def _named_action(action, obs: dict):
    """A Decision's action in the JSON form its trace row and the scoring read: the env takes
    the action-space form too (side and good as indices, orders as a tuple), but a row that
    kept `"side": 1` would not say what was played."""
    if not isinstance(action, dict) or not isinstance(action.get("orders"), (list, tuple)):
        return action
    named = normalize_action(action, tuple(obs.get("prices", ())))
    if isinstance(named["orders"], tuple):
        named = {**named, "orders": list(named["orders"])}
    return named


def _check_action(action, name: str) -> None:
    """A Decision's action is taken as it is (the Wood's rules reject what breaks them), but it
    must have the action's form, or its trace row cannot be written."""
    orders = action.get("orders", []) if isinstance(action, dict) else None
    fits = isinstance(orders, list) and all(isinstance(o, dict) and ORDER_KEYS <= o.keys() for o in orders)
    try:
        fits = fits and bool(canonical(action))  # the row's form: a whole qty and a numeric price
    except (TypeError, ValueError, OverflowError):
        fits = False
    if not fits:
        raise SeatAnswerError(
            f"python seat {name}: act returned a Decision whose action is not an action: {str(action)[:80]!r}; "
            'expected {"orders": [{"side", "good", "qty", "price"}, ...]} (or return the action dict itself, '
            "which is read as a model's answer)"
        )
    for i, o in enumerate(orders):  # canonical() writes NaN and Infinity, which no JSON reader takes
        if not math.isfinite(float(o["price"])):
            raise SeatAnswerError(
                f"python seat {name}: act returned a Decision whose order {i} has price {o['price']!r};"
                " a price must be a finite number (or return the action dict itself, where it is a bad_price)"
            )


# A Decision's fields besides its action: the types its trace row's columns hold, and whether
# the field is a count or a time (finite, 0 or more). bool is an int to Python: refused apart.
FIELDS = {
    "text": ((str, type(None)), False, "a string or None"),
    "error": ((str, type(None)), False, "a string or None"),
    "latency_s": ((int, float), True, "a number of seconds, 0 or more"),
    "prompt_tokens": ((int,), True, "a whole number, 0 or more"),
    "completion_tokens": ((int,), True, "a whole number, 0 or more"),
    "repaired": ((bool,), False, "True or False"),
    "policy": ((str, type(None)), False, "a string or None"),
    "model_s": ((int, float, type(None)), True, "None or a number of seconds, 0 or more"),
}


def _check_fields(answer: Decision, name: str) -> None:
    """The row's other columns: a wrong type would play the turn, then fail to be written."""
    for key, (types, measure, wanted) in FIELDS.items():
        value = getattr(answer, key)
        wrong = not isinstance(value, types) or (isinstance(value, bool) and bool not in types)
        if not wrong and measure and value is not None:
            wrong = not math.isfinite(value) or value < 0
        if wrong:
            raise SeatAnswerError(
                f"python seat {name}: act returned a Decision whose {key} is {value!r}; expected {wanted}"
            )
    # notes (a model seat's Decision passed on keeps its parser's) go into the row's `rejected` as JSON
    if not isinstance(answer.notes, tuple) or not all(isinstance(n, dict) for n in answer.notes):
        raise SeatAnswerError(
            f"python seat {name}: act returned a Decision whose notes are {str(answer.notes)[:80]!r};"
            " expected a tuple of note dicts (or leave them out)"
        )
    try:
        dumps(answer.notes)
    except (TypeError, ValueError) as exc:
        raise SeatAnswerError(
            f"python seat {name}: act returned a Decision whose notes JSON cannot hold: {first_line(exc)}"
        ) from None


def load_python(spec: dict) -> PythonSeat:
    check_keys(spec, {"kind", "entry_point", "kwargs"})
    entry = spec.get("entry_point")
    if not isinstance(entry, str) or ":" not in entry:
        raise SeatSpecError(f"seat spec entry_point: expected 'module:factory', got {entry!r}")
    module_name, attr = entry.split(":", 1)
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except ModuleNotFoundError as exc:
        # the entry point's own module missing is the spec's mistake; a module it imports, its code's
        if exc.name is not None and not (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise SeatSpecError(f"seat spec entry_point {entry!r}: importing {module_name} {_raised(exc)}") from exc
        raise SeatSpecError(f"seat spec entry_point {entry!r}: {exc}") from None
    except (ImportError, AttributeError) as exc:
        raise SeatSpecError(f"seat spec entry_point {entry!r}: {exc}") from None
    except (Exception, SystemExit) as exc:  # the user's module failed to import (a SyntaxError, its own raise): named
        raise SeatSpecError(f"seat spec entry_point {entry!r}: importing {module_name} {_raised(exc)}") from exc
    if not callable(factory):
        raise SeatSpecError(
            f"seat spec entry_point {entry!r}: {attr} is {with_article(type(factory).__name__)}, not a factory to call"
        )
    kwargs = spec.get("kwargs") or {}
    try:  # kwargs the factory does not take; a TypeError raised inside the factory is its own bug (below)
        inspect.signature(factory).bind(**kwargs)
    except TypeError as exc:
        raise SeatSpecError(f"seat spec entry_point {entry!r} with kwargs: {exc}") from None
    except ValueError:  # a builtin without a signature: its call says what is wrong
        pass
    try:
        scripted = factory(**kwargs)
    except (Exception, SystemExit) as exc:  # the user's factory raised: named, its traceback kept as the cause
        raise SeatSpecError(f"seat spec entry_point {entry!r}: the factory {_raised(exc)}") from exc
    if not isinstance(scripted, Scripted):
        raise SeatSpecError(
            f"seat spec entry_point {entry!r}: the factory returned {with_article(type(scripted).__name__)};"
            " it must return an object with a `name` and an `act(observations)`"
        )
    if not isinstance(scripted.name, str) or not scripted.name.strip():  # the trace rows' seat column
        raise SeatSpecError(
            f"seat spec entry_point {entry!r}: the factory returned a seat whose name is {scripted.name!r};"
            " it must be a non-empty string"
        )
    return PythonSeat(scripted)
