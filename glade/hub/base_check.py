"""Whether the Hub id an adapter's export names as its base (`--base-model`, or the repo id a
shipped base's export records) is the base the adapter was trained on (`glade export`).

Offline, the only evidence is glade's own export records (glade_export.json) on this machine:
glade's shipped models and the default export folder of that repo id (`exports/NAME`), each
with the fingerprint of the weights it exported (`fingerprint`; for a record written before it
was kept, the folder's own weights). A record of that repo id holding other weights than the
adapter's base_fingerprint is a refusal; no record at all, where the adapter's base is known
by another id, is a warning: the same base pushed under the user's own id is legitimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from glade.checkpoint import SHIPPED, base_fingerprint

from . import cards
from .model_index import hub_id, shipped_repo_id


@dataclass(frozen=True)
class BaseNamed:
    """What the export says of its base id: `origin`, the card's words in brackets after it
    (None: the id alone), and `warning`, what the console says (None: nothing)."""

    origin: str | None = None
    warning: str | None = None


def records(repo_id: str) -> list[tuple[Path, dict]]:
    """The model export folders here whose glade_export.json names `repo_id`."""
    folders = sorted(p.parent for p in cards.shipped_root().glob(f"*/{cards.MARKER}"))
    folders.append(cards.default_out(repo_id))
    found = []
    for folder in dict.fromkeys(folders):
        if (folder / cards.MARKER).is_file():
            marker = cards.earlier_export(folder)[0]
            if marker.get("repo_id") == repo_id and marker.get("repo_type") == "model":
                found.append((folder, marker))
    return found


def record_fingerprint(folder: Path, marker: dict) -> str | None:
    recorded = marker.get("fingerprint")
    if isinstance(recorded, str):
        return recorded
    # a record written before glade kept the fingerprint: the weights the folder holds
    return base_fingerprint(folder) if (folder / "config.json").is_file() else None


def trained_fingerprint(meta: dict) -> str | None:
    """The fingerprint of the base the adapter trained on (meta.json, else its folder while it is there)."""
    if isinstance(meta.get("base_fingerprint"), str):
        return meta["base_fingerprint"]
    folder = Path(str(meta.get("base_model") or ""))
    return base_fingerprint(folder) if meta.get("base_model") and (folder / "config.json").is_file() else None


def check_base(meta: dict, base_model: str | None) -> BaseNamed:
    """How the export names an adapter's base (meta: its meta.json, paths as written); a
    ValueError when `base_model` names a repo whose export here holds other weights."""
    given = str(meta.get("base_model_given") or "")
    named = shipped_repo_id(meta)  # the shipped base's own export record
    shipped = f"glade's shipped base `{given}`" if given.startswith(SHIPPED) else None
    if base_model is None or base_model == named:
        return BaseNamed(f"{shipped}, under the repo id its export names" if shipped and named else None)
    if base_model == hub_id(meta.get("base_model")):  # the Hub repo the adapter was trained on
        return BaseNamed()
    trained = trained_fingerprint(meta)
    found = [(folder, record_fingerprint(folder, marker)) for folder, marker in records(base_model)]
    if trained is not None and any(fp == trained for _, fp in found):
        folder = next(folder for folder, fp in found if fp == trained)
        what = shipped or "the base it was trained on"
        return BaseNamed(f"{what}, as exported to that repo id from here: {folder} holds the same weights")
    was = f"{given} (its export names {named})" if shipped and named else given or str(meta.get("base_model"))
    if trained is not None and (other := next((folder for folder, fp in found if fp is not None), None)):
        raise ValueError(
            f"--base-model {base_model}: the export for that repo id here ({other}) holds other weights than the "
            f"base this adapter was trained on, {was}; pass the Hub id of that base ({publish(meta, given, base_model)} "
            "first to publish it under this id); nothing was written"
        )
    known = named or hub_id(meta.get("base_model"))
    if known is None:  # a local base: naming its Hub id is what --base-model is for
        return BaseNamed()
    how = (
        f"`glade export {given} --repo-id {base_model}` writes the export that shows it"
        if shipped
        else "it must hold those weights"
    )
    return BaseNamed(
        f"named by --base-model; the adapter was trained on {shipped or f'`{known}`'}",
        f"--base-model {base_model}: nothing here shows that repo holds {was}, the base this adapter was trained "
        f"on; adapter_config.json and the card name {base_model} as given ({how})",
    )


def publish(meta: dict, given: str, repo_id: str) -> str:
    """How to export the base the adapter trained on under `repo_id`: a shipped base by its name,
    else by the folder training found (`given`, a `latest:NAME`, may name another model by now)."""
    folder = Path(str(meta.get("base_model") or ""))
    if given.startswith(SHIPPED):
        return f"export it with `glade export {given} --repo-id {repo_id}`"
    if meta.get("base_model") and (folder / "config.json").is_file():
        return f"export it with `glade export {folder} --repo-id {repo_id}`"
    return f"export the checkpoint it trained on with `glade export CHECKPOINT --repo-id {repo_id}`"
