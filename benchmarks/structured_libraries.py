"""Which structured-generation library holds hf seats to the action schema: measured.

    .venv/bin/python benchmarks/structured_libraries.py          (about a minute)
    .venv/bin/python benchmarks/structured_libraries.py --quick  (a few seconds)

On the states of the tiny council at W = 32 (the default Wood, 32 worlds, turns 0-2, the
stand-ins playing) and the tokenizer `glade train` builds for the tiny base, for each library
installed (llguidance is glade's dependency; xgrammar and outlines-core are compared when
present: `pip install xgrammar outlines-core`):

- correctness: does its JSON-schema converter take `glade.env.action_schema.action_schema` (which
  says "one order per good" with contains/maxContains) and keep its bounds? Each compiled
  grammar must accept the stand-in's answer in every state (written as traces write it)
  and refuse a second order on one good, a self-buy, a price over the cap and a quantity of 0;
- setup per row (the schema's grammar compiled and a matcher made: every row of every turn
  has a schema of its own) and the mask per token, walking the stand-in's answers token by
  token (compute the mask, check the token is in it, advance).

llguidance runs the Lark grammar glade uses (glade.seats.structured.lark_grammar, exact);
xgrammar runs the portable form the server seat sends (glade.env.action_schema.portable_schema,
exact, with prefixItems) since its converter drops `contains`; outlines-core is checked for
correctness only. The last line is the headline: llguidance's setup and per-token cost.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from council_parts import exit_on_sigterm  # noqa: E402
from help_format import DefaultsShown  # noqa: E402

from glade.console import quiet_libraries  # noqa: E402


def states(worlds: int, turns: int) -> list[dict]:
    from glade.env import parallel_env, standin
    from glade.env.observation import plain

    out = []
    for w in range(worlds):
        env = parallel_env("default", turns=turns + 1)
        obs, _ = env.reset(seed=7 + w)
        kinds = {c: standin.disposition(env.scenario.creatures[c].disposition) for c in env.possible_agents}
        for _ in range(turns):
            out += [plain(o) for o in obs.values()]
            obs, *_ = env.step({c: standin.act(obs[c], kinds[c], w) for c in env.agents})
    return out


def bad_answers(obs: dict) -> dict[str, dict]:
    """Answers the schema refuses in this state (those that apply)."""
    goods = list(obs["inventory"])
    made = [g for g in goods if obs["produces"][g]]
    held = [g for g in goods if obs["inventory"][g] > 0]
    out = {}
    if held:
        sell = {"side": "sell", "good": held[0], "qty": 1, "price": 1.0}
        out["two orders on one good"] = {"orders": [sell, sell]}
        out["price over the cap"] = {"orders": [{**sell, "price": round(11 * float(obs["prices"][held[0]]), 2)}]}
        out["qty 0"] = {"orders": [{**sell, "qty": 0}]}
    if made:
        out["self-buy"] = {"orders": [{"side": "buy", "good": made[0], "qty": 1, "price": 0.5}]}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=DefaultsShown)
    p.add_argument(
        "--quick",
        action="store_true",
        help="4 worlds instead of 32 (60 states instead of 480): a few seconds; the headline is the last line",
    )
    p.add_argument("--verbose", action="store_true", help="let the libraries' own progress bars and warnings through")
    args = p.parse_args(argv)
    quiet_libraries(args.verbose)  # before transformers is imported: no saving bars
    from transformers import AutoTokenizer

    from glade.env.action_schema import action_schema
    from glade.env.standin import DISPOSITIONS
    from glade.env.standin import act as standin_act
    from glade.tracejson import canonical
    from glade.train.tiny import default_corpus, save_tiny

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from council_parts import stand_in_texts

    tmp = tempfile.mkdtemp(prefix="glade-structured-bench-")
    exit_on_sigterm()  # so the finally below runs
    try:
        base = save_tiny(Path(tmp) / "tiny", texts=list(default_corpus()) + stand_in_texts("default", 2, turns=30))
        tok = AutoTokenizer.from_pretrained(base)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = states(4 if args.quick else 32, 3)
    schemas = [action_schema(o) for o in rows]
    answers = [canonical(standin_act(o, DISPOSITIONS["balanced"], 0)) for o in rows]
    print(f"{len(rows)} states (default Wood, turns 0-2), tokenizer of {len(tok)} tokens")
    print(
        f"{'library':<14} {'schema as given':<40} {'accepts stand-in':>16} {'refuses bad':>12} {'setup ms/row':>13} {'mask ms/token':>14}"
    )
    headline = None
    for name in ("llguidance", "xgrammar", "outlines-core"):
        try:
            result = MEASURE[name](tok, rows, schemas, answers)
        except ImportError:
            print(f"{name:<14} not installed")
            continue
        print(
            f"{name:<14} {result['given']:<40} {result['accepted']:>16} {result['refused']:>12}"
            f" {result.get('setup', float('nan')):>13.2f} {result.get('mask', float('nan')):>14.4f}"
        )
        if name == "llguidance":
            headline = result
    print("(setup: compile the row's grammar and make its matcher; mask: compute the allowed tokens, check, advance)")
    print(
        f"llguidance, exact grammar: {headline['setup']:.2f} ms setup per row, {headline['mask']:.4f} ms per token,"
        f" {headline['accepted']} stand-in answers accepted, {headline['refused']} bad answers refused"
    )
    return 0


def llguidance_measure(tok, rows, schemas, answers) -> dict:
    import llguidance
    import llguidance.hf
    import numpy as np

    from glade.seats.structured import lark_grammar

    tokenizer = llguidance.hf.from_tokenizer(tok)
    given = llguidance.LLMatcher(tokenizer, llguidance.LLMatcher.grammar_from_json_schema(schemas[0]), log_level=0)
    # llguidance's error lists the keywords it leaves out: the first line, whole, not cut mid-word
    note = given.get_error().splitlines()[0] if given.is_error() else "compiled"
    mask = np.zeros((len(tok) + 31) // 32, dtype=np.int32)
    setup = walk = 0.0
    tokens = accepted = refused = bad_total = 0
    for obs, schema, answer in zip(rows, schemas, answers):
        t0 = time.perf_counter()
        grammar = llguidance.LLMatcher.grammar_from_lark(lark_grammar(schema))
        matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
        setup += time.perf_counter() - t0
        ok = True
        t0 = time.perf_counter()
        for token in tok(answer, add_special_tokens=False)["input_ids"]:
            matcher.unsafe_compute_mask_ptr(mask.ctypes.data, mask.size * 4)
            ok = ok and bool(mask[token // 32] >> (token % 32) & 1) and matcher.consume_token(token)
            tokens += 1
        walk += time.perf_counter() - t0
        accepted += ok and matcher.is_accepting()
        for bad in bad_answers(obs).values():
            m = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
            bad_total += 1
            refused += not (
                m.consume_tokens(tok(json.dumps(bad), add_special_tokens=False)["input_ids"]) and m.is_accepting()
            )
    return {
        "given": f"action_schema: {note}",
        "accepted": f"{accepted}/{len(rows)}",
        "refused": f"{refused}/{bad_total}",
        "setup": setup / len(rows) * 1000,
        "mask": walk / tokens * 1000,
    }


def xgrammar_measure(tok, rows, schemas, answers) -> dict:
    import xgrammar as xgr

    from glade.env.action_schema import portable_schema

    info = xgr.TokenizerInfo.from_huggingface(tok, vocab_size=len(tok))
    compiler = xgr.GrammarCompiler(info, max_threads=1, cache_enabled=False)
    exact = str(xgr.Grammar.from_json_schema(json.dumps(schemas[0])))
    dropped = "basic_array" in exact.split("root_prop_0 ::=")[1].split("\n")[0]
    note = "orders became any JSON (contains dropped)" if dropped else "compiled"
    bitmask = xgr.allocate_token_bitmask(1, info.vocab_size)
    setup = walk = 0.0
    tokens = accepted = refused = bad_total = 0
    for obs, schema, answer in zip(rows, schemas, answers):
        t0 = time.perf_counter()
        compiled = compiler.compile_json_schema(json.dumps(portable_schema(schema)), any_whitespace=False)
        matcher = xgr.GrammarMatcher(compiled)
        setup += time.perf_counter() - t0
        ok = True
        t0 = time.perf_counter()
        for token in tok(answer, add_special_tokens=False)["input_ids"]:
            matcher.fill_next_token_bitmask(bitmask, 0)
            ok = ok and bool(int(bitmask[0, token // 32]) >> (token % 32) & 1) and matcher.accept_token(token)
            tokens += 1
        walk += time.perf_counter() - t0
        accepted += ok and (matcher.is_terminated() or matcher.accept_token(tok.eos_token_id))
        for bad in bad_answers(obs).values():
            m = xgr.GrammarMatcher(compiled)
            bad_total += 1
            ids = tok(json.dumps(bad), add_special_tokens=False)["input_ids"]
            refused += not all(m.accept_token(t) for t in ids)
    return {
        "given": f"action_schema: {note}",
        "accepted": f"{accepted}/{len(rows)}",
        "refused": f"{refused}/{bad_total}",
        "setup": setup / len(rows) * 1000,
        "mask": walk / tokens * 1000,
    }


def outlines_measure(tok, rows, schemas, answers) -> dict:
    from outlines_core.json_schema import build_regex_from_schema

    try:
        build_regex_from_schema(json.dumps(schemas[0]))
        note = "compiled"
    except ValueError:
        note = "refused (contains)"
    relaxed = json.loads(json.dumps(schemas[0]))
    relaxed["properties"]["orders"].pop("allOf", None)
    regex = build_regex_from_schema(json.dumps(relaxed))
    bounds = "qty" in regex and "(-)?(0|[1-9][0-9]*)" in regex
    return {
        "given": note + ("; number bounds dropped" if bounds else ""),
        "accepted": "-",
        "refused": "-",
    }


MEASURE = {"llguidance": llguidance_measure, "xgrammar": xgrammar_measure, "outlines-core": outlines_measure}

if __name__ == "__main__":
    sys.exit(main())
