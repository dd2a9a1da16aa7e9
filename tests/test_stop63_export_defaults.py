"""What other tools make of the whole-model folders glade writes (the tiny base, `glade merge`, a
merged or full `glade export`), and of every exported chat template:

- generation_config.json held only the token ids, so `pipeline("text-generation")` sampled (its
  own defaults: do_sample, temperature 0.7) and a bare `model.generate(**inputs)` stopped at 20 new
  tokens, while the card promised greedy answers of the evaluation's budget; a base's sampling
  settings (Qwen2.5-Instruct's temperature, top_p, top_k, repetition penalty) came along merged;
- chat_template.jinja held transformers' own `{% generation %}` markers, which plain Jinja2
  (llama.cpp, text-generation-webui) refuses: "Encountered unknown tag 'generation'".
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jinja2
import pytest
import yaml
from seat_checks import random_adapters
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, pipeline

from glade import seats
from glade.checkpoint import shipped
from glade.env.protocol import render
from glade.hub.export import export_checkpoint
from glade.seats.base import Generation
from glade.train.folder_defaults import has_markers, plain_template
from glade.train.merge import merge
from glade.train.tiny import CHAT_TEMPLATE, save_tiny

pytestmark = pytest.mark.usefixtures("one_thread")

# glade's template as it was: the answer inside transformers' markers
TAGGED = CHAT_TEMPLATE.replace(
    "{{- message['content'] + '<|im_end|>' }}",
    "{%- generation %}{{- message['content'] + '<|im_end|>' }}{%- endgeneration %}",
)
# Qwen2.5-Instruct's generation_config.json, on the tiny vocabulary's ids
SAMPLING = {
    "bos_token_id": 0,
    "pad_token_id": 0,
    "do_sample": True,
    "eos_token_id": [2, 0],
    "repetition_penalty": 1.05,
    "temperature": 0.7,
    "top_p": 0.8,
    "top_k": 20,
}
BUDGET = 24  # the recipe's eval.max_new_tokens
CHATS = [
    [{"role": "user", "content": "Sell?"}],
    [
        {"role": "system", "content": "You are Thorn."},
        {"role": "user", "content": "Berries cost 4.25. Buy or sell?"},
        {"role": "assistant", "content": '{"orders": []}'},
        {"role": "user", "content": "And now?"},
    ],
    [
        {"role": "system", "content": "You are Moss."},
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": "y"},
    ],
]


@pytest.fixture(scope="module")
def states():
    from seat_checks import wood_states

    return wood_states(3)


@pytest.fixture(scope="module")
def older(tmp_path_factory):
    """A LoRA checkpoint as an older glade train wrote one: its base (and its own tokenizer) with
    the tagged template, the base with Qwen2.5-Instruct's sampling settings."""
    root = tmp_path_factory.mktemp("older")
    base = save_tiny(root / "base")
    (base / "generation_config.json").write_text(json.dumps(SAMPLING))
    (base / "chat_template.jinja").write_text(TAGGED)
    folder = root / "ckpt" / "creature__0__20261204-120000"
    shutil.copytree(random_adapters(str(base), root / "adapters")["hoarder"], folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(base / name, folder / name)
    (folder / "meta.json").write_text(json.dumps({"name": "creature", "kind": "lora", "base_model": str(base)}))
    (folder / "recipe.yaml").write_text(yaml.safe_dump({"name": "creature", "eval": {"max_new_tokens": BUDGET}}))
    return folder


def settings(folder: Path) -> dict:
    config = json.loads((folder / "generation_config.json").read_text())
    config.pop("transformers_version")
    return config


def answers(folder: Path, states, budget: int) -> dict[str, list[str]]:
    """Each state's answer by glade's hf seat, and by transformers with no generation arguments."""
    seat = seats.load({"kind": "hf", "model": str(folder), "max_new_tokens": budget})
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    pipe = pipeline("text-generation", model=model, tokenizer=tokenizer)
    out = {"seat": [d.text for d in seat.act([dict(s) for s in states])], "pipeline": [], "generate": []}
    for state in states:
        messages = render(state)
        out["pipeline"].append(pipe(messages)[0]["generated_text"][-1]["content"])
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        new = model.generate(**inputs)[0, inputs["input_ids"].shape[1] :]
        out["generate"].append(tokenizer.decode(new, skip_special_tokens=True))
    return out


def test_the_tiny_base_decodes_greedily_in_a_seats_budget(tmp_path):
    folder = save_tiny(tmp_path / "tiny")
    assert settings(folder) == {
        "bos_token_id": 0,
        "eos_token_id": 2,
        "pad_token_id": 0,
        "do_sample": False,
        "max_new_tokens": Generation.max_new_tokens,
    }
    assert not has_markers((folder / "chat_template.jinja").read_text())


def test_a_full_export_answers_through_pipeline_and_generate_as_glades_seat(tmp_path, states):
    # the shipped base exported as it is: a full model, its recipe's eval.max_new_tokens 160
    folder = export_checkpoint(shipped("tiny-base"), "you/tiny-base", out=tmp_path / "full")
    got = answers(folder, states, 160)
    assert all(text.startswith('{"orders": [') for text in got["seat"])  # real answers, longer than 20 tokens
    assert got["generate"] == got["seat"]
    assert got["pipeline"] == got["seat"]
    assert settings(folder) == {
        "bos_token_id": 0,
        "eos_token_id": 2,
        "pad_token_id": 0,
        "do_sample": False,
        "max_new_tokens": 160,
    }
    assert settings(shipped("tiny-base")) == settings(folder)  # the shipped folder says the same


@pytest.mark.parametrize("how", ["export --merge", "glade merge"])
def test_a_merged_folder_drops_its_bases_sampling_and_answers_as_glades_seat(older, tmp_path, states, how):
    if how == "glade merge":
        folder = merge(older, tmp_path / "merged")
    else:
        folder = export_checkpoint(older, "you/creature", merge=True, out=tmp_path / "export")
    got = answers(folder, states, BUDGET)
    assert got["generate"] == got["seat"]
    assert got["pipeline"] == got["seat"]
    assert settings(folder) == {
        "bos_token_id": 0,
        "eos_token_id": [2, 0],
        "pad_token_id": 0,
        "do_sample": False,
        "max_new_tokens": BUDGET,
    }
    GenerationConfig.from_pretrained(folder).validate(strict=True)  # nothing transformers warns about
    assert not has_markers((folder / "chat_template.jinja").read_text())


def plain_jinja2(template: str, chat: list[dict], prompt: bool) -> str:
    """As llama.cpp's and text-generation-webui's renderers do: Jinja2 alone, transformers' settings."""
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(messages=chat, add_generation_prompt=prompt)


@pytest.mark.parametrize("merged", [False, True])
def test_an_older_checkpoints_tagged_template_is_exported_without_the_tags(older, tmp_path, merged):
    with pytest.raises(jinja2.TemplateSyntaxError, match="unknown tag 'generation'"):
        plain_jinja2(TAGGED, CHATS[0], True)
    folder = export_checkpoint(older, "you/creature", merge=merged, out=tmp_path / "export")
    template = (folder / "chat_template.jinja").read_text()
    assert template == CHAT_TEMPLATE
    was, now = AutoTokenizer.from_pretrained(older), AutoTokenizer.from_pretrained(folder)
    for chat in CHATS:
        for prompt in (False, True):
            expected = was.apply_chat_template(chat, tokenize=False, add_generation_prompt=prompt)
            assert now.apply_chat_template(chat, tokenize=False, add_generation_prompt=prompt) == expected
            assert plain_jinja2(template, chat, prompt) == expected
    if not merged:  # an adapter has no generation_config of its own: the card's snippet says how it answered
        assert not (folder / "generation_config.json").exists()
        assert (
            f"model.generate(**inputs, max_new_tokens={BUDGET}, do_sample=False)" in (folder / "README.md").read_text()
        )


def test_a_transformers_4_template_in_tokenizer_config_is_exported_without_the_tags(older, tmp_path):
    folder = tmp_path / older.name
    shutil.copytree(older, folder)
    (folder / "chat_template.jinja").unlink()
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": TAGGED}))
    out = export_checkpoint(folder, "you/creature", out=tmp_path / "export")
    assert json.loads((out / "tokenizer_config.json").read_text())["chat_template"] == CHAT_TEMPLATE


# templates as real bases write them: tags on lines of their own, inline, with and without "-"
MULTILINE = [
    "{% for m in messages %}\n"
    "  {% if m['role'] == 'assistant' %}\n"
    "    <|im_start|>assistant\n"
    "    {% generation %}\n"
    "    {{ m['content'] }}<|im_end|>\n"
    "    {% endgeneration %}\n"
    "  {% else %}\n"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "  {% endif %}\n"
    "{% endfor %}\n"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
    "{%- for m in messages %}\n"
    "{%- if m.role == 'assistant' %}\n"
    "{{- '<|im_start|>assistant\\n' }}\n"
    "{%- generation -%}\n"
    "  {{ m.content }}<|im_end|>\n"
    "{%- endgeneration -%}\n"
    "  \n"
    "{%- else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
    "{% endif %}{% endfor %}",
    "{% for m in messages %}<|im_start|>{{ m.role }}\n"
    "{% if m.role == 'assistant' %}  {%- generation %}  {{ m.content }}  {% endgeneration -%}  x"
    "{% else %}{{ m.content }}{% endif %}<|im_end|>\n{% endfor %}",
    TAGGED,
]


@pytest.mark.parametrize("template", MULTILINE, ids=["own-lines", "trimmed", "inline", "glade"])
def test_removing_the_markers_renders_every_chat_exactly_as_before(template):
    from glade.train.tiny import build_tokenizer

    tok = build_tokenizer(["a b c"], vocab_size=300)
    plain = plain_template(template)
    assert has_markers(template) and not has_markers(plain)
    for chat in CHATS:
        for prompt in (False, True):
            expected = tok.apply_chat_template(
                chat, chat_template=template, tokenize=False, add_generation_prompt=prompt
            )
            assert (
                tok.apply_chat_template(chat, chat_template=plain, tokenize=False, add_generation_prompt=prompt)
                == expected
            )
            assert plain_jinja2(plain, chat, prompt) == expected


def test_lm_eval_answers_in_its_tasks_budget_not_the_folders(older, tmp_path):
    # lm-eval asks generate() for max_length (prompt + the task's max_gen_toks); the folder's
    # max_new_tokens would take precedence over it
    pytest.importorskip("lm_eval")
    from glade.eval import harness

    folder = merge(older, tmp_path / "merged")
    lm = harness.load_model(folder, harness.model_args(folder), 1)
    assert lm.model.generation_config.max_new_tokens is None and lm.model.generation_config.do_sample is False
