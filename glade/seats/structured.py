"""How an hf seat holds each generated answer to the action format: `JsonEnd` stops a row
once its JSON object closes; with structured decoding, `SchemaConstraint` holds each row of
a batched generate to its own state's action schema (`glade.env.action_schema.action_schema`),
through llguidance.

Why llguidance (measured side by side; README "Structured decoding"): it compiles what the
schema needs (per-good `const`, `anyOf`, integer and decimal ranges, string lengths) and
refuses what it cannot (`contains`) instead of dropping it, it installs as one 3 MB wheel
with no dependencies, and it builds a row's grammar in milliseconds, which matters when
every row of every turn has a schema of its own. xgrammar compiled the same schema by
silently turning the whole `orders` array into "any JSON" (its converter does not do
`allOf` with `contains`), pulls in triton (a 273 MB wheel), and compiled slower per schema;
outlines-core refused `contains` and, without it, dropped every number bound.

The schema's "at most one order per good" is `contains`/`maxContains` per good, which
llguidance's JSON-schema converter does not implement. So a schema becomes a Lark grammar
that means the same (`lark_grammar`): the orders array walks over the set of goods already
used (one rule per set, so no good comes twice and the walk stops at `maxItems`), each
item is one of its good's order forms (the side and good written out, the quantity and
price ranges embedded as `%json`, so llguidance's number ranges do the rest), then the
optional gossip and thought. Keys come in the canonical order with the separators every
trace uses (`glade.tracejson.canonical`), so a model is asked for exactly the text it was
trained on. Budget overspend across several buys, which no schema can say, stays the
parser's job.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from transformers import (
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
)

STYLE = {"item_separator": ", ", "key_separator": ": ", "whitespace_flexible": False}
MAX_GOODS = 12  # one grammar rule per set of goods already ordered: 2**goods rules
GRAMMAR_CACHE = 4096  # grammar texts kept (keyed by schema); a council turn needs one per row
MATCHER_CACHE = 256  # unused matchers kept, one per grammar (a copy costs microseconds, a build
# milliseconds; each holds about 260 KiB with the tiny vocabulary): a W=32 turn has 160 rows


def lark_grammar(schema: dict) -> str:
    """The Lark grammar (llguidance's dialect) of the answers `schema` accepts, written the
    canonical way: `{"orders": [...], "gossip": "...", "thought": "..."}`."""
    props = schema["properties"]
    orders = props["orders"]
    by_good: dict[str, list[dict]] = {}
    for form in orders.get("items", {}).get("anyOf", []):
        by_good.setdefault(form["properties"]["good"]["const"], []).append(form)
    goods = list(by_good)
    if len(goods) > MAX_GOODS:
        raise ValueError(f"structured decoding: {len(goods)} tradeable goods (at most {MAX_GOODS})")
    limit = min(orders.get("maxItems", len(goods)), len(goods))
    lines = ['start: "{\\"orders\\": [" orders "]" gossip? thought? "}"']
    lines.append(
        "orders: (" + " | ".join(f"item{i} rest{1 << i}" for i in range(len(goods))) + ")?" if limit else 'orders: ""'
    )
    for mask in range(1, 1 << len(goods)):
        free = [i for i in range(len(goods)) if not mask >> i & 1] if bin(mask).count("1") < limit else []
        body = "(" + " | ".join(f'", " item{i} rest{mask | 1 << i}' for i in free) + ")?" if free else '""'
        lines.append(f"rest{mask}: {body}")
    numbers: dict[str, str] = {}  # one rule per distinct number range, shared by the items
    for i, good in enumerate(goods):
        lines.append(f"item{i}: " + " | ".join(_order_text(form, numbers) for form in by_good[good]))
    lines += [f"{name}: %json {schema}" for schema, name in numbers.items()]
    for key in ("gossip", "thought"):
        lines.append(f'{key}: ", \\"{key}\\": " {key}_text')
        lines.append(f"{key}_text: %json {json.dumps({**props[key], 'x-guidance': STYLE})}")
    return "\n".join(lines)


class JsonEnd(StoppingCriteria):
    """Stops each row once the first top-level JSON object it generated has closed.

    Each new token is decoded and fed to that row's `JsonScan`; braces inside strings
    (double- or single-quoted) do not count, nor do braces in a `<think>` block before
    the object opens."""

    def __init__(self, tokenizer, prompt_length: int, batch: int):
        self.tokenizer = tokenizer
        self.start = prompt_length
        self.rows = [JsonScan() for _ in range(batch)]

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        done = []
        for scan, ids in zip(self.rows, input_ids, strict=True):
            if not scan.done:
                scan.feed(self.tokenizer.decode(ids[-1:], skip_special_tokens=True))
            done.append(scan.done)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class JsonScan:
    """Incremental scanner: `done` once the first top-level `{...}` in the text fed has closed."""

    __slots__ = ("depth", "quote", "escape", "thinking", "tail", "done")

    def __init__(self):
        self.depth = 0  # open braces; > 0 once the object has opened
        self.quote = ""  # the quote of the string being read, if any
        self.escape = False
        self.thinking = False  # inside <think>...</think> before the object
        self.tail = ""  # the last few characters, to spot <think> markers across tokens
        self.done = False

    def feed(self, text: str) -> bool:
        for ch in text:
            if self.done:
                break
            if self.depth == 0:  # before the object: look for it, or for a think block
                self.tail = (self.tail + ch)[-8:]
                if self.thinking:
                    self.thinking = not self.tail.endswith("</think>")
                elif self.tail.endswith("<think>"):
                    self.thinking = True
                elif ch == "{":
                    self.depth = 1
            elif self.quote:
                if self.escape:
                    self.escape = False
                elif ch == "\\":
                    self.escape = True
                elif ch == self.quote:
                    self.quote = ""
            elif ch in "\"'":
                self.quote = ch
            elif ch == "{":
                self.depth += 1
            elif ch == "}":
                self.depth -= 1
                self.done = self.depth == 0
        return self.done


def _order_text(form: dict, numbers: dict[str, str]) -> str:
    """One order form as Lark: the fixed text of its side and good written out, and only its
    two numbers left to llguidance's JSON lexer (a %json rule of its own per order form costs
    a quarter more to compile, and every row of every turn compiles its grammar). The price
    is written in whole cents, as every trace writes it: it may otherwise run on digit after
    digit (a random model's 0.5555...) until the token budget cuts the answer off."""
    props = form["properties"]

    def number(schema: dict) -> str:
        key = json.dumps(schema, sort_keys=True)
        return numbers.setdefault(key, f"number{len(numbers)}")

    head = json.dumps({"side": props["side"]["const"], "good": props["good"]["const"]}, separators=(", ", ": "))
    qty = number(props["qty"])
    price = number({**props["price"], "multipleOf": 0.01})
    start, middle = json.dumps(head[:-1] + ', "qty": '), json.dumps(', "price": ')  # as Lark string literals
    return f'{start} {qty} {middle} {price} "}}"'


class Grammars:
    """llguidance's view of one tokenizer, the grammar of each schema seen (cached), and the
    one worker thread that builds matchers and masks beside the model's own work."""

    def __init__(self, tokenizer, vocab_size: int):
        import llguidance  # only when a structured seat sits
        import llguidance.hf

        self.ll = llguidance
        self.vocab_size = max(vocab_size, len(tokenizer))  # the model's logits may be wider than the tokenizer
        # JSON slices: masks a seventh cheaper and matchers a little faster to build than the
        # general slices (measured on the tiny council's states; the grammar is JSON throughout)
        self.tokenizer = llguidance.hf.from_tokenizer(
            tokenizer, n_vocab=self.vocab_size, slices=llguidance.LLTokenizer.json_slices()
        )
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="glade-grammar")
        self._grammars: OrderedDict[str, str] = OrderedDict()
        self._pristine: OrderedDict[str, Any] = OrderedDict()  # grammar -> an unused matcher, to copy

    def grammar(self, schema: dict) -> str:
        key = json.dumps(schema, sort_keys=True)
        found = self._grammars.get(key)
        if found is None:
            found = self.ll.LLMatcher.grammar_from_lark(lark_grammar(schema))
            self._grammars[key] = found
            if len(self._grammars) > GRAMMAR_CACHE:
                self._grammars.popitem(last=False)
        return found

    def matcher(self, grammar: str) -> Any:
        """A fresh matcher of `grammar` (a copy of the one kept, else built and kept)."""
        kept = self._pristine.get(grammar)
        if kept is None:
            kept = self._pristine[grammar] = self.ll.LLMatcher(self.tokenizer, grammar, log_level=0)
            if len(self._pristine) > MATCHER_CACHE:
                self._pristine.popitem(last=False)
        return kept.deep_copy()

    def forget(self) -> None:
        """Drop the kept matchers (a benchmark's rounds replay the same states, and each round
        must build its own)."""
        self._pristine.clear()

    def constraint(self, schemas: list[dict | None]) -> SchemaConstraint:
        """The constraint of one generate call: row i follows schemas[i] (None: free). Give
        generate its `generate_kwargs` and its `advance` as a stopping criterion."""
        return SchemaConstraint(self, [None if s is None else self.grammar(s) for s in schemas])


class SchemaConstraint(LogitsProcessor):
    """Masks each row's next-token scores to what its grammar allows.

    The grammar work runs on the worker thread beside the model (llguidance releases the
    GIL): the matchers are built during the prompt pass, and once a step's tokens are
    chosen (`advance`, called by generate as a stopping criterion) each row takes its token
    and the next masks are computed during the next forward pass. A row whose grammar has
    finished (its JSON object closed) takes no more tokens: generate pads it from then on,
    and its mask allows only the end token. `faults` counts rows whose matcher failed (a
    token its grammar refused, which the mask makes impossible): they go on unconstrained."""

    def __init__(self, grammars: Grammars, texts: list[str | None]):
        self.grammars = grammars
        self.matchers: list[Any] = []
        self.faults = 0
        # numpy, not torch: the worker fills it outside generate's inference mode
        self.bitmask = np.full((len(texts), (grammars.vocab_size + 31) // 32), -1, dtype=np.int32)
        self._shifts = torch.arange(32, dtype=torch.int32)
        self._next = grammars.worker.submit(self._start, texts)
        self.advance = _Advance(self)

    def _start(self, texts: list[str | None]) -> None:
        self.matchers = [None if t is None else self.grammars.matcher(t) for t in texts]
        self._masks()

    def _step(self, tokens: list[int]) -> None:
        for m, token in zip(self.matchers, tokens, strict=True):
            if m is not None and not m.is_stopped():
                m.consume_token(token)
        self._masks()

    def _masks(self) -> None:
        self.bitmask.fill(-1)
        for i, m in enumerate(self.matchers):
            if m is not None and not m.is_error():
                m.unsafe_compute_mask_ptr(self.bitmask[i].ctypes.data, self.bitmask.shape[1] * 4)
        self.faults = sum(m is not None and m.is_error() for m in self.matchers)

    def generate_kwargs(self, temperature: float, top_p: float) -> dict:
        """generate() arguments that put this mask first: when sampling, the temperature and
        nucleus cut come after it (generate's own warpers would run before a custom processor,
        and a nucleus cut before the mask can leave a row nothing to sample)."""
        processors = [self]
        if temperature <= 0:
            return {"logits_processor": LogitsProcessorList(processors)}
        processors.append(TemperatureLogitsWarper(temperature))
        if top_p < 1.0:
            processors.append(TopPLogitsWarper(top_p))
        return {"logits_processor": LogitsProcessorList(processors), "temperature": 1.0, "top_p": 1.0, "top_k": 0}

    def finish(self) -> int:
        """Wait for the worker's last step; the rows whose matcher failed."""
        self._next.result()
        return self.faults

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self._next.result()  # this step's masks (a fault in the worker is raised here)
        allowed = ((torch.from_numpy(self.bitmask).unsqueeze(-1) >> self._shifts) & 1).view(len(self.bitmask), -1)
        allowed = allowed[:, : scores.shape[-1]].to(device=scores.device, dtype=torch.bool)
        return scores.masked_fill(~allowed, float("-inf"))


class _Advance(StoppingCriteria):
    """Hands each step's chosen tokens to the constraint's worker; never stops a row."""

    def __init__(self, constraint: SchemaConstraint):
        self.constraint = constraint

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        c = self.constraint
        c._next.result()
        c._next = c.grammars.worker.submit(c._step, input_ids[:, -1].tolist())
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
