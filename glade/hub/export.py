"""A Hub-ready folder for a creature checkpoint (`glade export`), and its push.

The folder holds the LoRA adapter (or, merged, a plain model) as safetensors, the tokenizer
and chat template (without transformers-only markers), greedy generation defaults for a whole
model (glade.train.folder_defaults), the resolved recipe, meta.json and a model card (glade.hub.model_card), with
local absolute paths shortened to their last part (`portable`).
Nothing is pickled and nothing needs remote code to load. Raises ValueError for bad input
and PushFailed (the folder ready) when the push cannot happen; never prints.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml

from glade import checkpoint as checkpoints
from glade.checkpoint import SHIPPED, base_fingerprint
from glade.checkpoint_files import FIX, json_object, loadable
from glade.env import protocol
from glade.eval.lm_results import lm_eval_scores
from glade.files import readable_by_umask, saved_into
from glade.train.folder_defaults import plain_templates, recipe_budget, write_greedy

from .base_check import check_base
from .base_license import base_license, chosen_license
from .card_sections import lm_eval_record
from .card_usage import model_size
from .cards import (
    add_license,
    check_license_file,
    check_repo_id,
    copy_files,
    default_out,
    finish_folder,
    portable,
    read_recipe,
    start_folder,
)
from .cards import push as push_folder
from .council_view import council_for
from .lineage import trained_scenarios
from .model_card import other_protocols, render_card
from .model_index import base_hub_id, eval_results, shipped_repo_id, wrong_metrics

TOKENIZER_COPIED = (  # what an export copies of the tokenizer, where the checkpoint has it
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
)


def exportable(folder: Path) -> checkpoints.Checkpoint:
    """A checkpoint glade may export: written by glade (meta.json and safetensors weights) and
    loadable without remote code (its files whole: loadable); a ValueError naming
    what is wrong otherwise."""
    found = loadable(folder)
    has_weights = (folder / "adapter_model.safetensors").exists() or any(folder.glob("model*.safetensors"))
    if not found.meta or not has_weights:
        raise ValueError(
            f"{folder}: not a glade checkpoint (expected meta.json and adapter_model.safetensors "
            "or model.safetensors, as glade train writes)"
        )
    if not (folder / "recipe.yaml").is_file():  # the card says from it how the model was trained, and on whose play
        raise ValueError(
            f"{folder}: no recipe.yaml, the recipe glade train wrote beside meta.json, which the model card reads "
            "(how it was trained, on whose decisions); restore it from a copy, or train the checkpoint again"
        )
    for name in ("config.json", "adapter_config.json", "tokenizer_config.json"):
        # a stray file among them (a config.json beside an adapter) is read too: named if damaged
        if (folder / name).exists() and "auto_map" in json_object(folder / name, FIX):
            raise ValueError(
                f"{folder / name}: names custom code (auto_map); glade exports only models that load without remote code"
            )
    return found


def local_base(checkpoint: str | Path, merge: bool = False, base_model: str | None = None) -> str | None:
    """The local folder a LoRA export would name as its base model (in adapter_config.json and
    the card), when no Hub id was given or found: nobody else can load it. None otherwise."""
    return _local_base(exportable(Path(checkpoint)), merge, base_model)


def shipped_base(checkpoint: str | Path, merge: bool = False, base_model: str | None = None) -> tuple[str, str] | None:
    """(shipped:NAME, its repo id) where a LoRA export, merged or not, names a base glade ships by
    the repo id its own export records (nothing offline shows that repo was pushed); None otherwise."""
    found = exportable(Path(checkpoint))
    if found.kind != "lora" or base_model or not (named := shipped_repo_id(found.meta)):
        return None
    return str(found.meta.get("base_model_given")), named


def _local_base(found: checkpoints.Checkpoint, merge: bool, base_model: str | None) -> str | None:
    if merge or found.kind != "lora" or base_model:
        return None
    meta = found.meta
    if base_hub_id(meta):
        return None
    return str(meta.get("base_model"))


def _copy_weights(checkpoint: Path, tmp: Path, kind: str, exported_kind: str, base: str | None) -> None:
    """The weights as exported: an adapter (its config naming `base`, the Hub id, where known), an
    adapter merged into its base here (--merge of a lora checkpoint), or the full model as it is
    (a `glade merge` folder, a full fine-tune)."""
    if exported_kind == "lora":
        config = json.loads((checkpoint / "adapter_config.json").read_text(encoding="utf-8"))
        if base:
            config["base_model_name_or_path"] = base
        (tmp / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        copy_files(checkpoint, tmp, ["adapter_model.safetensors"])
        return
    if kind == "lora":  # --merge of an adapter: merged here, then copied
        from glade.train.merge import merge as merge_lora

        with tempfile.TemporaryDirectory(prefix="glade-export-") as work:
            merged = merge_lora(checkpoint, Path(work) / "merged")
            copy_files(merged, tmp, ["config.json", "generation_config.json", *_weight_files(merged)])
    else:
        copy_files(checkpoint, tmp, ["config.json", "generation_config.json", *_weight_files(checkpoint)])
    # greedy in the budget its evaluation used, whatever the checkpoint's own says (a full fine-tune keeps its base's)
    write_greedy(tmp, recipe_budget(checkpoint))


def _weight_files(folder: Path) -> list[str]:
    return [p.name for p in folder.glob("model*.safetensors*")]


def _exported_meta(checkpoint: Path, meta: dict, kind: str, exported_kind: str, base: str | None) -> dict:
    """meta.json as exported: paths shortened to their last part, but `base_model` as
    adapter_config.json names it (a LoRA seat finds its base there; a full model has none)."""
    out = {**meta, "kind": exported_kind}
    if exported_kind == "lora":
        out.update(base_model=base or meta.get("base_model"), base_model_local=meta.get("base_model"))
    else:
        out["base_model"] = None
    if kind == "lora" and exported_kind == "merged":
        out["merged_from"] = checkpoint.name
    elif meta.get("merged_from"):  # glade merge records the adapter's folder as a local path
        out["merged_from"] = Path(str(meta["merged_from"])).name
    return {**portable(out), "base_model": out["base_model"]}


def export_checkpoint(
    checkpoint: str | Path,
    repo_id: str,
    merge: bool = False,
    private: bool = False,
    out: str | Path | None = None,
    push: bool = False,
    council: str | Path | None = None,
    api=None,
    base_model: str | None = None,
    license: str | None = None,
    dataset: str | None = None,
    shipped_recipe: dict | None = None,
    log=None,
    license_file: str | Path | None = None,
    warn=None,
) -> Path:
    """Write the export folder (and push it when `push`); returns the folder.

    `base_model` / `dataset`: Hub ids for the card (and adapter_config.json) when the
    checkpoint's own are local paths. An adapter on a local base with no `base_model` is
    refused for a push (a ValueError, before anything is written): nobody else could load it.
    `shipped_recipe`: glade's shipped training recipe of the checkpoint's name, resolved as
    `glade train` resolves it (glade.cli.export reads it: the hub may not import glade.train.recipe);
    the card then says whether the run used it as it is, or with which overrides. `log`: hears
    what the push changed besides the files (an existing public repo made private).
    `license_file`: the text of `license` other, copied to LICENSE (required with it). `license`
    None: the license the base's card here names (base_license), else apache-2.0; `log` hears which
    was taken from the base, `warn` of a `license` other than the base's (chosen_license).
    A `base_model` whose export here holds other weights than the adapter's base is refused; `warn`
    hears, once the folder is written, of one nothing here shows to be that base (base_check).
    Raises ValueError for bad input, PushFailed (folder ready) when the push cannot happen."""
    from huggingface_hub import ModelCard, ModelCardData

    check_repo_id(repo_id)
    for label, value in (("--base-model", base_model), ("--dataset", dataset)):
        if value is not None:
            check_repo_id(value, label)
    license_text = check_license_file(license, license_file)
    checkpoint = Path(checkpoint)
    found = exportable(checkpoint)
    base_named = check_base(found.meta, base_model) if found.kind == "lora" else None  # refuses a known other base
    local = _local_base(found, merge, base_model) if push else None
    if local is not None:
        given = str(found.meta.get("base_model_given") or "")
        source = given if given.startswith(SHIPPED) else "BASE_CHECKPOINT"  # a shipped base exports by its name
        raise ValueError(
            f"{checkpoint}: the adapter's base model is a local folder ({local}); pushed as it is, adapter_config.json "
            "and the card would name that folder, and nobody else could load the adapter: pass --base-model OWNER/NAME "
            f"(the base's Hub id; `glade export {source} --repo-id OWNER/NAME --push` publishes a base glade "
            "built), or --merge; nothing was written or pushed"
        )
    meta, kind = found.meta, found.kind
    if why := wrong_metrics(meta):  # published as the model-index's figures: never an impossible one
        raise ValueError(
            f"{checkpoint / 'meta.json'}: {why} (glade train never writes that); restore meta.json from a copy, "
            "or train the checkpoint again; nothing was written"
        )
    exported_kind = "merged" if merge and kind == "lora" else kind
    summary = council_for(checkpoint, council) if council is not None else None
    lm_scores = lm_eval_scores(checkpoint)
    out = Path(out) if out else default_out(repo_id)
    base = base_model or base_hub_id(meta)
    license, license_note, license_warns = chosen_license(license, base_license(meta, (base,)))
    recipe = read_recipe(checkpoint, "glade train", optional=False)

    tmp = start_folder(out, "model", repo_id)
    try:
        with saved_into(out):  # a write that names no file (f.write's on a full disk) names the export
            _copy_weights(checkpoint, tmp, kind, exported_kind, base)
            copy_files(checkpoint, tmp, TOKENIZER_COPIED)
            # an older checkpoint's (or a real base's) {% generation %} markers: plain Jinja2 refuses them
            plain_templates(tmp)
            if recipe:
                (tmp / "recipe.yaml").write_text(yaml.safe_dump(portable(recipe), sort_keys=False), encoding="utf-8")
            exported_meta = _exported_meta(checkpoint, meta, kind, exported_kind, base)
            (tmp / "meta.json").write_text(json.dumps(exported_meta, indent=2) + "\n", encoding="utf-8")
            licensed = add_license(tmp, license_text, repo_id)

            model_name = repo_id.split("/")[1]
            data = ModelCardData(
                model_name=model_name,
                base_model=base,
                library_name="peft" if exported_kind == "lora" else "transformers",
                license=license,
                **licensed,
                tags=["glade", "wood", "creature", "multi-agent", "market-simulation", "trl", "sft"]
                + (["lora"] if exported_kind == "lora" else []),
                datasets=[dataset] if dataset else None,
                language="en",
                pipeline_tag="text-generation",
            )
            lm_record = lm_eval_record(checkpoint)
            data.eval_results = eval_results(meta, lm_scores, summary, lm_record, dataset, recipe) or None
            lineage = trained_scenarios(checkpoint, recipe, meta)
            # its settings stay as read here, like the council's they are compared with (summary.scenarios):
            # shortened on one side only, a path would differ from itself; the card's words print no path
            trained = {**portable(lineage), **({"settings": lineage["settings"]} if "settings" in lineage else {})}
            body = render_card(
                portable(meta),
                portable(recipe),
                lm_scores,
                repo_id,
                exported_kind,
                base,
                summary,
                portable(shipped_recipe),
                trained,
                portable(lm_record),
                base_origin=base_named.origin if base_named else None,
                base_unverified=bool(base_named and base_named.warning),
                dataset=dataset,
                size=model_size(tmp, meta),  # the weights exported (merged: the merged ones); meta finds a local base
            )
            ModelCard("---\n" + data.to_yaml() + "\n---\n\n" + body).save(tmp / "README.md")
            marker = {"repo_id": repo_id, "repo_type": "model", "source": checkpoint.name, "kind": exported_kind}
            if exported_kind != "lora":  # what an adapter's export checks its --base-model against (base_check)
                marker["fingerprint"] = base_fingerprint(tmp)
            readable_by_umask(tmp)  # copied weights keep the checkpoint's mode, 0600 as safetensors wrote them
            folder = finish_folder(tmp, out, marker)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if license_note and (say := warn if license_warns else log) is not None:
        say(license_note)
    if warn is not None and base_named is not None and base_named.warning:
        warn(base_named.warning)
    if warn is not None and (other := other_protocols(meta, lineage)):
        warn(
            f"{checkpoint}: it learned prompts of protocol {', '.join(other)}, and this glade renders "
            f"{protocol.PROTOCOL_VERSION}: seated in it, the model reads prompts it never trained on (the card says so); "
            "train it again on traces this glade generates"
        )
    if push:
        push_folder(
            folder,
            repo_id,
            "model",
            private=private,
            api=api,
            commit_message=f"glade export of {checkpoint.name}",
            log=log,
        )
    return folder
