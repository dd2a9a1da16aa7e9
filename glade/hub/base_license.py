"""The license an exported model's card names (`glade export --license`): by default the one
its base's own card names, where a card here says which; weights derived from a base usually
carry its license, and apache-2.0 over a Llama or Gemma base would say otherwise without a word."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from .card_usage import adapter_base_files
from .cards import HUB_LICENSES
from .model_index import hub_id

DEFAULT = "apache-2.0"  # where no card here names the base's license (a Hub id never downloaded, a tiny base)


def base_license(meta: dict, hub_ids: tuple[str | None, ...] = ()) -> tuple[object, Path] | None:
    """(license, the card that names it) of the model a checkpoint's weights were trained from:
    the `license` in the README.md front matter of its base's folder (adapter_base_files: the
    recorded folder, this install's shipped base, or a Hub base whose files the local cache holds,
    each only where its weights are the ones it trained on, where meta.json says which); a base
    that is itself a glade checkpoint with no card is followed to its own base. Else the card of
    a Hub id (its recorded base, `hub_ids`: --base-model) in the local Hub cache. None where no
    card here names one, or names `unknown`."""
    seen: set[Path] = set()
    while (files := adapter_base_files(meta)) is not None and (folder := files[0].parent.resolve()) not in seen:
        seen.add(folder)
        if (found := _card_license(folder / "README.md")) is not None:
            return found
        try:  # a glade checkpoint (a merged model, a full fine-tune) records its own base
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            break
        if not isinstance(meta, dict):
            break
    for repo_id in dict.fromkeys(filter(None, (*hub_ids, hub_id(meta.get("base_model") or meta.get("base_resolved"))))):
        if (card := _cached_card(repo_id)) is not None and (found := _card_license(card)) is not None:
            return found
    return None


def chosen_license(given: str | None, found: tuple[object, Path] | None) -> tuple[str, str | None, bool]:
    """(the card's license, a line for the console or None, whether that line is a warning): `given`
    (--license) as it is, warned of where the base's card names another; else the base's, said so;
    else apache-2.0, warned of where the base's card names one glade cannot carry over (`other`,
    whose text the Hub needs, or no Hub id)."""
    if found is None:
        return given or DEFAULT, None, False
    named, card = found
    if given is not None:
        if given == named:
            return given, None, False
        return (
            given,
            f"--license {given}, but the base's card ({card}) names license {named}: weights derived from a base "
            f"usually carry its license; the card says {given}, as asked",
            True,
        )
    if isinstance(named, str) and named in HUB_LICENSES and named != "other":
        return named, f"license: {named}, as the base's card ({card}) names it; --license chooses another", False
    return (
        DEFAULT,
        f"the base's card ({card}) names license {named!r}, which the export cannot carry over (the Hub needs the "
        f"text of `other`, and knows only its own ids); the card says {DEFAULT}: pass --license (--license other "
        "--license-file PATH with the base's license text)",
        True,
    )


def _card_license(card: Path) -> tuple[object, Path] | None:
    from huggingface_hub.repocard import metadata_load

    try:
        front = metadata_load(card) if card.is_file() else None
    except (OSError, ValueError, yaml.YAMLError):  # a card whose front matter cannot be read names nothing
        return None
    named = (front or {}).get("license")
    return (named, card) if named not in (None, "", "unknown", []) else None


def _cached_card(repo_id: str) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, "README.md")
    except ValueError:  # not a Hub repo id
        return None
    return Path(found) if isinstance(found, str) else None
