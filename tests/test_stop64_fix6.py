"""Leaks and clean-up (audit B, fix6): the hf model cache, the local Ray cluster's signals,
temp folder and log switch, an interrupt during imports, a killed report's temp figures."""

from __future__ import annotations

import gc
import weakref

import torch

from glade.seats import hf
from glade.train.tiny import save_tiny


def _weights(shared: hf.SharedModel) -> torch.Tensor:
    return next(shared.model.parameters()).detach().clone()


def test_a_relative_model_folder_is_the_one_in_the_folder_glade_runs_in(tmp_path, monkeypatch):
    save_tiny(tmp_path / "A" / "m", seed=0)
    save_tiny(tmp_path / "B" / "m", seed=1)
    monkeypatch.chdir(tmp_path / "A")
    first = hf.shared_model("m")
    monkeypatch.chdir(tmp_path / "B")
    second = hf.shared_model("m")
    assert second is not first
    assert not torch.equal(_weights(second), _weights(first))
    assert torch.equal(_weights(second), _weights(hf.SharedModel(str(tmp_path / "B" / "m"))))
    assert hf.shared_model("m") is second  # still loaded once


def test_a_model_folder_rewritten_in_place_is_loaded_again(tmp_path):
    folder = str(save_tiny(tmp_path / "m", seed=0))
    first = hf.shared_model(folder)
    save_tiny(folder, seed=1)
    second = hf.shared_model(folder)
    assert second is not first
    assert torch.equal(_weights(second), _weights(hf.SharedModel(folder)))


def test_the_model_cache_lets_go_of_models_no_seat_holds(tmp_path):
    folders = [str(save_tiny(tmp_path / f"m{i}", seed=i)) for i in range(hf.MODELS_KEPT + 2)]
    gone = []
    for folder in folders:
        shared = hf.shared_model(folder)
        assert hf.shared_model(folder) is shared  # one load while it is in use
        gone.append(weakref.ref(shared))
        del shared
    gc.collect()
    assert len(hf._MODELS) <= hf.MODELS_KEPT
    assert gone[0]() is None  # its weights freed
