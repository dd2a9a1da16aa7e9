"""Shared pieces of the Hub exports (`glade export`, `glade export-traces`): repo ids, the export folder,
the push (the one place that talks to the Hub) and its failure mode.

Exit code 3 (`PUSH_FAILED`) means: the folder was written and is complete, but the push did
not happen (offline mode, no network, no or a refused token, a namespace the token may not
write to). `PushFailed.message` names the folder and the exact `hf` command that pushes it later.

The Hub token is never read, passed or written here: `HfApi()` finds it itself (HF_TOKEN or
the saved `hf auth login`), and nothing in an export folder is derived from it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from pathlib import Path

from glade.checkpoint import shipped_root, staging_folder
from glade.env.schema import did_you_mean, read_yaml
from glade.hub_ids import offline_mode, offline_switches
from glade.provenance import git_commit, now
from glade.words import portable as portable  # its home is below the traces card, which shortens paths too

PUSH_FAILED = 3  # exit code: the folder is ready, the push failed
EXIT_STATUS = (  # both export verbs' (glade.cli.epilog)
    "0 written (and pushed); 2 bad input; 3 written but not pushed (offline, no network, "
    "no token or one the Hub refused; the message gives the `hf` command for later)."
)

# huggingface_hub's rule, ASCII only: a part starts and ends with a letter, digit or '_'
REPO_ID = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?/[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$")
MARKER = "glade_export.json"  # written in every export folder; marks a folder glade may replace
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


class PushFailed(Exception):
    """The export folder is ready but could not be pushed (deliberately neither a ValueError
    nor an OSError, so the CLI maps it to its own exit code, 3)."""

    def __init__(self, reason: str, folder: Path, command: str):
        self.reason, self.folder, self.command = reason, Path(folder), command
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"push failed ({self.reason}); the folder is ready at {self.folder}; push it later with: {self.command}"


def is_repo_id(value) -> bool:
    """OWNER/NAME as the Hub takes it: REPO_ID and huggingface_hub's own check (offline), which
    also refuses '--', '..', a name ending in '.git' and parts over 96 characters."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if not isinstance(value, str) or not REPO_ID.match(value):
        return False
    try:
        validate_repo_id(value)
    except HFValidationError:
        return False
    return True


def check_repo_id(repo_id: str, label: str = "--repo-id") -> str:
    """OWNER/NAME, as the Hub spells repo ids (is_repo_id); anything else is a ValueError, raised
    before anything is written."""
    if not is_repo_id(repo_id):
        raise ValueError(
            f"{label} {repo_id!r}: expected {'OWNER/NAME' if label == '--repo-id' else 'a Hub id OWNER/NAME'} (letters, digits, '-', '_', '.'; each part starting and "
            "ending with a letter, digit or '_'; no '--' or '..'; not ending in '.git'; e.g. alice/glade-hoarder)"
        )
    return repo_id


# The license identifiers a Hub card's `license:` may hold (huggingface_hub ships no list):
# the table of https://huggingface.co/docs/hub/repositories-licenses (hub-docs,
# docs/hub/repositories-licenses.md), with the Llama 3.x ids added there since. Any other
# license is `other`, with its text in a LICENSE file (--license-file; check_license_file).
HUB_LICENSES = frozenset(
    """
    apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear
    c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0
    cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0
    cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl
    ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1
    lgpl-3.0 isc lppl-1.3c ms-pl mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa
    unlicense zlib pddl lgpl-lr deepfloyd-if-license llama2 llama3 llama3.1 llama3.2 llama3.3 gemma
    unknown other
    """.split()
)


def check_license(license: str) -> str:
    """One of the Hub's license identifiers (HUB_LICENSES); anything else is a ValueError."""
    if license in HUB_LICENSES:
        return license
    # The case-folded id only, not the nearest: a near id (cc-by, odc-by) is another license.
    hint = did_you_mean(license.lower(), {license.lower()} & HUB_LICENSES)
    raise ValueError(
        f"--license {license!r}: not a Hub license identifier; use one such as apache-2.0, mit, "
        "cc-by-4.0, cc-by-nc-4.0, llama3.1, gemma, or other (a license of your own; "
        f"https://huggingface.co/docs/hub/repositories-licenses lists them all){hint}"
    )


def check_license_file(license: str | None, license_file: str | Path | None) -> Path | None:
    """The license text an export copies to LICENSE: required with `other` (the Hub shows no text
    otherwise, and a push deletes a LICENSE added on the Hub by hand), refused with any other id."""
    if license_file is None:
        if license == "other":
            raise ValueError(
                "--license other: the card would name no license text, and a push deletes a LICENSE added on "
                "the Hub by hand; give the text with --license-file PATH (copied to LICENSE), or use a Hub license id"
            )
        return None
    if license != "other":
        raise ValueError(
            f"--license-file {license_file}: goes with --license other (a Hub license id has its own text)"
        )
    path = Path(license_file)
    if path.is_dir():
        raise ValueError(f"--license-file {license_file}: a folder; give the file that holds the license text")
    if not path.is_file():
        raise ValueError(f"--license-file {license_file}: no such file")
    if path.stat().st_size == 0:  # the Hub would show an empty LICENSE as the model's terms
        raise ValueError(f"--license-file {license_file}: an empty file; give the file that holds the license text")
    return path


def add_license(folder: Path, license_file: Path | None, repo_id: str) -> dict:
    """Copy the license text to folder/LICENSE; the front matter that names it (license_name,
    license_link), as the Hub asks of `license: other`. {} without a file."""
    if license_file is None:
        return {}
    shutil.copyfile(license_file, folder / "LICENSE")
    return {"license_name": f"{repo_id.split('/')[1].lower()}-license", "license_link": "LICENSE"}


def default_out(repo_id: str) -> Path:
    return Path("exports") / repo_id.split("/")[1]


def earlier_export(out: Path) -> tuple[dict, str]:
    """The MARKER of the glade export folder `out` ({} when it cannot be read or names no
    repo_type) and what the folder holds, in words ("a model export for me/m")."""
    try:
        marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        marker = None
    if not isinstance(marker, dict) or marker.get("repo_type") not in ("model", "dataset"):
        return {}, f"an export whose {MARKER} names no repo_type"
    return marker, f"a {marker['repo_type']} export for {marker.get('repo_id', 'no repo id')}"


def start_folder(out: Path, repo_type: str, repo_id: str) -> Path:
    """A fresh, hidden work folder next to `out`; `finish_folder` moves it into place. An
    existing `out` is replaced only when it is an earlier glade export of the same `repo_type`
    (a dataset export never replaces a model, nor the reverse). Inside glade's own shipped
    models, only the export of that shipped model for the same `repo_id` replaces it (README:
    how models/tiny-base is rebuilt); nothing else is written there."""
    from glade.files import check_folder_path

    out = Path(out)
    if out.is_symlink():  # the export replaces `out` whole, and a link cannot be replaced by a folder
        raise ValueError(f"--out {out}: is a symbolic link (to {os.readlink(out)}); pass the real folder as --out")
    try:
        check_folder_path(out)  # a file, or under one: named, not mkdir's bare 'Not a directory'
    except ValueError as exc:
        raise ValueError(f"--out {exc}") from None
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise ValueError(f"--out {out}: exists and is not a glade export folder; choose another --out or remove it")
    marker, held = earlier_export(out) if (out / MARKER).exists() else ({}, "")
    if held and marker.get("repo_type") != repo_type:
        raise ValueError(
            f"--out {out}: holds {held}, not a {repo_type} export; choose another --out (or remove that folder)"
        )
    if out.resolve().is_relative_to(shipped_root().resolve()) and marker.get("repo_id") != repo_id:
        raise ValueError(
            f"--out {out}: is inside glade's own shipped models ({shipped_root()})"
            + (f" and holds {held}, which only an export for that same --repo-id replaces" if held else "")
            + "; choose another --out"
        )
    try:
        tmp = staging_folder(out)
    except ValueError as exc:
        raise ValueError(f"--out {exc}") from None
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def finish_folder(tmp: Path, out: Path, marker: dict) -> Path:
    import glade

    marker = {
        **marker,
        "glade_version": glade.__version__,
        "git_commit": git_commit(),  # glade_version is 0.1.0 at every commit: this tells which glade exported
        "exported": now(),
    }
    (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    pickles = [p.name for p in tmp.rglob("*") if p.suffix in PICKLE_SUFFIXES]
    if pickles:  # a guard on this module's own copying, never expected to fire
        raise RuntimeError(f"refusing to export pickle files: {', '.join(pickles)}")
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


def copy_files(source: Path, dest: Path, names) -> list[str]:
    copied = []
    for name in names:
        if (source / name).is_file():
            shutil.copy2(source / name, dest / name)
            copied.append(name)
    return copied


def read_recipe(folder: Path, wrote: str, optional: bool = True) -> dict:
    """The recipe.yaml beside what is exported ({} when there is none); one that is not a YAML
    mapping is a ValueError naming the file, the YAML problem and what to do. `wrote`: the verb
    that wrote it; `optional`: whether the card can do without it (a model's card cannot: an empty
    one, or one whose parts the card reads are not of their shape, is refused the same way)."""
    path = folder / "recipe.yaml"
    if not path.is_file():
        return {}
    try:
        recipe = read_yaml(path)
        if not optional and (why := model_recipe_shape(recipe)):
            raise ValueError(f"{path}: {why}")
    except ValueError as exc:
        fix = "restore it, or remove it (the card then has no recipe section)" if optional else "restore it from a copy"
        raise ValueError(f"{exc}; it is the recipe {wrote} wrote beside it: {fix}") from None
    return recipe


# What a model's card reads of its recipe (glade.hub.model_card, card_usage, lineage), with the shape glade
# train writes: checked once here, so a hand-edited part is named rather than fail deep in the card
RECIPE_MAPPINGS = ("model", "data", "lora", "eval")
RECIPE_TEXTS = (("data", "traces"), ("data", "policies"), ("lora", "target_modules"))  # lists of texts
RECIPE_LISTS = (("data", "creatures"),)
YAML_WORDS = {bool: "true/false", int: "a number", float: "a number", str: "a text", list: "a list", dict: "a mapping"}


def model_recipe_shape(recipe: dict) -> str | None:
    """What is wrong with a model's recipe where its card reads it ("model: a number, not a mapping");
    None where nothing is. Empty: glade train never writes one, and the card would say nothing true."""
    if not recipe:
        return "empty"
    for key in RECIPE_MAPPINGS:
        if recipe.get(key) is not None and not isinstance(recipe[key], dict):
            return f"{key}: {_yaml_word(recipe[key])}, not a mapping"
    for (part, key), texts in [(k, True) for k in RECIPE_TEXTS] + [(k, False) for k in RECIPE_LISTS]:
        value = (recipe.get(part) or {}).get(key)
        if value is not None and not isinstance(value, list):
            return f"{part}.{key}: {_yaml_word(value)}, not a list{' of texts' if texts else ''}"
        if texts and (odd := [v for v in value or [] if not isinstance(v, str)]):
            return f"{part}.{key}: a list holding {_yaml_word(odd[0])}, not a list of texts"
    return None


def _yaml_word(value) -> str:
    return YAML_WORDS.get(type(value), "null")


def private_unused(repo_id: str, folder: Path, repo_type: str) -> str:
    """The warning of an export given --private without --push: what would push it private later."""
    return "--private acts only with --push, and nothing was pushed; to push this folder private later: " + (
        upload_command(repo_id, folder, repo_type, private=True)
    )


def upload_command(repo_id: str, folder: Path, repo_type: str, private: bool) -> str:
    """The `hf` command that pushes the folder later as `push` does: the repo made to hold exactly
    the folder's files (`--delete '*'`: .gitattributes stays); with `private`, the repo created
    private or, when it exists, made private first (`hf upload --private` is ignored for an
    existing repo)."""
    upload = ["hf", "upload", repo_id, shlex.quote(str(folder)), ".", "--repo-type", repo_type, "--delete", "'*'"]
    if not private:
        return " ".join(upload)
    where = f"{repo_id} --repo-type {repo_type} --private"
    return f"hf repos create {where} --exist-ok && hf repos settings {where} && " + " ".join(upload)


def refused(status: int, repo_id: str) -> str:
    """Why the Hub answered 401 or 403: a bad token, or a namespace the token may not write to."""
    if status == 401:
        return "the Hub did not accept the token (HTTP 401): set HF_TOKEN or run `hf auth login`"
    owner = repo_id.split("/")[0]
    return (
        f"the Hub refused to write to {repo_id} (HTTP 403): either the token lacks write access (a read-only "
        f"or fine-grained token without write permission there), or {owner!r} is not a namespace you may write "
        "to (another user's, or an organization where you are not a writer); check `hf auth whoami` and the "
        "--repo-id"
    )


def push(
    folder: Path,
    repo_id: str,
    repo_type: str,
    private: bool = False,
    api=None,
    commit_message: str | None = None,
    log=None,
) -> str:
    """Create the repo (if missing) and upload the folder so that the repo holds exactly its files;
    returns the repo URL.

    The upload deletes every remote file the folder lacks (`delete_patterns="*"`; huggingface_hub
    keeps `.gitattributes`, which the Hub needs): a file of an earlier push, a pickle uploaded by
    hand, never outlives the export. With `private`, an existing public repo is made private
    (`update_repo_settings`) before anything is uploaded, and `log` (when given) hears it: the
    flag asks for a private repo, and create_repo leaves an existing repo's visibility as it is.
    Without it a new repo takes the Hub's default (public, or private where the organization
    says so): `private=None`, not False, which would make it public over that default.
    `api` is the network boundary (default `huggingface_hub.HfApi()`, which finds the token
    itself). Offline mode, no network or a missing/refused token raise PushFailed at once."""
    import httpx2
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

    api = HfApi() if api is None else api
    command = upload_command(repo_id, folder, repo_type, private)
    step = "creating the repo"
    try:
        url = api.create_repo(repo_id=repo_id, private=True if private else None, repo_type=repo_type, exist_ok=True)
        step = "reading the repo's visibility"
        if private and api.repo_info(repo_id=repo_id, repo_type=repo_type).private is not True:
            step = "making the repo private"
            api.update_repo_settings(repo_id=repo_id, private=True, repo_type=repo_type)
            if log is not None:
                log(f"{repo_id} existed and was public: made it private (--private) before uploading")
        step = "uploading (one commit: none of it reached the repo)"
        api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type=repo_type,
            commit_message=commit_message or f"glade export of {Path(folder).name}",
            delete_patterns="*",
        )
    except OfflineModeIsEnabled:
        raise PushFailed(f"{offline_mode()}: unset {offline_switches()} to push", folder, command) from None
    except httpx2.TransportError as exc:  # ConnectError, timeouts: not OSErrors
        raise PushFailed(f"no network: cannot reach the Hub ({type(exc).__name__})", folder, command) from None
    except LocalTokenNotFoundError:
        raise PushFailed("no Hub token: set HF_TOKEN or run `hf auth login`", folder, command) from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code
        if status in (401, 403):
            reason = refused(status, repo_id)
        else:
            said = " ".join(str(exc.server_message or "").split())[:300]  # the Hub's own words: what it refused
            reason = (f"the Hub answered HTTP {status}" if status else "the Hub refused the request") + (
                f" while {step}" + (f": {said}" if said else "")
            )
        raise PushFailed(reason, folder, command) from None
    return (
        str(url)
        if url is not None
        else f"https://huggingface.co/{'datasets/' if repo_type == 'dataset' else ''}{repo_id}"
    )
