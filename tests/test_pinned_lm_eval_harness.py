"""Tests written by a mutation audit of the lm-eval harness (glade.eval.harness): each pins a
behaviour that a plausible one-line change (a comparison flipped, a clause dropped, a constant
changed) left untested. The comment on each names what it guards. The same audit's tests of
the python and server seats are in test_pinned_python_server_seats.py."""

from __future__ import annotations

import json

import pytest

# --------------------------------------------------------------------------- lm-eval harness


def checkpoint_folder(root, name: str, base: str | None = None):
    folder = root / name
    folder.mkdir(parents=True)
    if base is None:
        (folder / "config.json").write_text("{}")
    else:
        (folder / "adapter_config.json").write_text("{}")
    (folder / "meta.json").write_text(
        json.dumps({"name": "x", "kind": "full" if base is None else "lora", "base_model": base})
    )
    return folder


def test_model_args_name_the_adapters_base_its_tokenizer_and_refuse_commas(tmp_path):
    from test_checkpoint import whole

    from glade.eval.harness import model_args

    # guards the adapter's own tokenizer, and `not is_dir()` on a local base
    lora = whole(checkpoint_folder(tmp_path, "lora", base=str(tmp_path)))
    assert model_args(lora) == {
        "dtype": "float32",
        "pretrained": str(tmp_path),
        "peft": str(lora.resolve()),
        "tokenizer": str(lora.resolve()),
    }
    with pytest.raises(ValueError, match=r"its base model '/no/such/base' is not a folder"):
        model_args(whole(checkpoint_folder(tmp_path, "lost", base="/no/such/base")))
    # guards the comma refusal: lm-eval splits model_args on commas
    with pytest.raises(ValueError, match="lm-eval model paths cannot contain commas"):
        model_args(whole(checkpoint_folder(tmp_path, "a,b"), kind="full"))
    # a damaged folder is named by model_args itself, not only by the CLI before it
    (lora / "adapter_model.safetensors").write_bytes(b"\x00" * 3)
    with pytest.raises(ValueError, match="adapter_model.safetensors is truncated or not safetensors"):
        model_args(lora)


def test_a_hub_failure_is_found_through_the_context_as_well_as_the_cause():
    from glade.eval.harness import _from_hub

    # guards `__cause__ or __context__`: a library that re-raises inside `except` sets only the context
    try:
        try:
            raise OSError("not cached")
        except OSError:
            raise RuntimeError("could not load")  # noqa: B904 (the context alone, as such a library leaves it)
    except RuntimeError as exc:
        assert exc.__cause__ is None and isinstance(exc.__context__, OSError)
        assert _from_hub(exc)
    assert not _from_hub(RuntimeError("a bug of its own"))


def test_flatten_skips_flags_and_counts_and_names_an_unfiltered_metric_plainly():
    from glade.eval.harness import _flatten

    # guards the bool skip, "sample_len" skip and `applied in ("", "none")`
    scores, stderr = _flatten(
        {"t": {"alias": "t", "sample_len": 12, "higher,none": True, "acc": 0.5, "acc_stderr": 0.1}}
    )
    assert scores == {"t": {"acc": 0.5}} and stderr == {"t": {"acc": 0.1}}


def test_score_text_says_too_few_only_of_a_mean_without_an_interval():
    from glade.eval.harness import score_text

    # guards `mean is not None and not ci`: no mean at all is not "too few for an interval"
    result = {"scores": {"t": {"acc": 0.5}}, "intervals": {"t": {"acc": {"mean": None, "ci": None, "n": 0}}}}
    assert "too few" not in score_text(result, "t", ".2f")


def test_lm_eval_scores_are_sorted_rows_of_numbers_with_the_effective_count(tmp_path):
    from glade.eval.lm_results import lm_eval_scores

    # guards the rows' sort, the bool skip and "n" from n_samples' effective count
    assert lm_eval_scores(tmp_path) == []
    (tmp_path / "lm_eval").mkdir()
    written = {
        "scores": {"b": {"acc": 0.5}, "a": {"z": 0.25, "y": 0.75, "flag": True}},
        "n_samples": {"a": {"original": 90, "effective": 12}},
    }
    (tmp_path / "lm_eval" / "results.json").write_text(json.dumps(written))
    rows = lm_eval_scores(tmp_path)
    assert [(r["task"], r["metric"], r["value"]) for r in rows] == [
        ("a", "y", 0.75),
        ("a", "z", 0.25),
        ("b", "acc", 0.5),
    ]
    assert rows[0]["n"] == 12 and rows[2]["n"] is None


@pytest.mark.parametrize("earlier", [False, True], ids=["fresh", "earlier_results"])
def test_a_failed_run_leaves_the_lm_eval_folder_as_it_was(tmp_path, monkeypatch, earlier):
    from glade.eval import harness

    # guards `rmtree(out if fresh else staging)`: a first run that fails leaves no folder behind,
    # a later one keeps the earlier results and drops only its own staged documents
    out = tmp_path / "lm_eval"
    if earlier:
        out.mkdir()
        (out / "results.json").write_text("{}")
    monkeypatch.setattr(harness, "resolve_checkpoint", lambda c: tmp_path)
    monkeypatch.setattr(harness, "model_args", lambda c: {"pretrained": "x"})
    monkeypatch.setattr(harness, "heldout_rows", lambda c: ([], {}))
    monkeypatch.setattr(harness, "write_tasks", lambda rows, folder: folder.mkdir(parents=True))
    monkeypatch.setattr(harness, "baselines", lambda folder, tasks, limit: {})

    def fail(*args, **kwargs):
        raise RuntimeError("the base would not load")

    monkeypatch.setattr(harness, "_evaluate", fail)
    with pytest.raises(RuntimeError, match="the base would not load"):
        harness.run_lm_eval(tmp_path)
    if earlier:
        assert sorted(p.name for p in out.iterdir()) == ["results.json"]
    else:
        assert not out.exists()


class Bar:
    """A glade Bar's calls, recorded: its own, and those of each bar staged under it."""

    def __init__(self, label="lm-eval", log=None):
        self.label, self.log = label, [] if log is None else log

    def stage(self, label, unit):
        self.log.append(("stage", label, unit))
        return Bar(label, self.log)

    def total(self, n):
        self.log.append(("total", n))

    def note(self, kind):
        self.log.append(("note", kind))

    def advance(self, n=1):
        self.log.append(("advance", n))


def test_the_quiet_bars_count_each_kind_of_request_on_a_bar_of_its_own(monkeypatch):
    pytest.importorskip("lm_eval")
    import lm_eval.api.model

    from glade.eval.harness import _quiet_bars

    # guards the first kind on glade's bar and each later kind on a staged bar, and `desc.startswith("Running ")`
    bar = Bar()
    with _quiet_bars(True, bar):
        lm_eval.api.model.tqdm(total=2, desc="Running loglikelihood requests").update(1)
        lm_eval.api.model.tqdm(total=5, desc="Filtering answers").update(1)  # not a request loop: not counted
        lm_eval.api.model.tqdm(total=3, desc="Running generate_until requests").update(1)
    assert bar.log == [
        ("total", 2),
        ("note", "loglikelihood"),
        ("advance", 1),
        ("stage", "lm-eval", "requests"),
        ("total", 3),
        ("note", "generate_until"),
        ("advance", 1),
    ]


def test_only_a_hub_id_base_that_fails_to_load_is_explained_as_one(tmp_path, monkeypatch):
    pytest.importorskip("lm_eval")
    import lm_eval.api.registry

    from glade.eval.harness import load_model

    class Failing:
        def create_from_arg_obj(self, args, extra):
            raise OSError("no file named config.json")

    monkeypatch.setattr(lm_eval.api.registry, "get_model", lambda name: Failing())
    # guards `Path(base).is_dir()`: a local base folder keeps the loader's own error
    with pytest.raises(OSError, match="no file named config.json"):
        load_model("ckpt", {"pretrained": str(tmp_path), "peft": "ckpt"}, 1)
    with pytest.raises(ValueError, match=r"ckpt: cannot load its base model 'someorg/base'"):
        load_model("ckpt", {"pretrained": "someorg/base", "peft": "ckpt"}, 1)


def test_results_of_one_time_set_aside_thrice_are_each_kept(tmp_path):
    from glade.eval.harness import keep_previous

    # guards keep_previous's `while aside.exists()`: a third run of one stamp finds -2 taken too
    results = tmp_path / "results.json"
    for n in range(3):
        results.write_text(json.dumps({"written": "2026-11-24T10:15:00Z", "run": n}))
        keep_previous(results)
    kept = {p.name: json.loads(p.read_text())["run"] for p in tmp_path.iterdir()}
    assert kept == {
        "results-20261124T101500Z.json": 0,
        "results-20261124T101500Z-2.json": 1,
        "results-20261124T101500Z-3.json": 2,
    }
