"""Export's push: through HfApi (faked at the network boundary), offline or unreachable Hubs give
exit 3 quickly with the folder ready, and a token in the environment is written nowhere."""

import time
from pathlib import Path

import pytest
from fake_hub import FAKE_TOKEN, RecordingApi, UnreachableApi

from glade.cli import main
from glade.hub.cards import PUSH_FAILED, PushFailed
from glade.hub.export import export_checkpoint


def test_push_creates_the_repo_and_uploads_the_folder(trained_creature, tmp_path, monkeypatch):
    import huggingface_hub

    _, ckpt = trained_creature
    RecordingApi.calls = []
    out = export_checkpoint(
        ckpt, "alice/creature", private=True, out=tmp_path / "pushed", push=True, api=RecordingApi()
    )
    (create, c), (upload, u) = RecordingApi.calls
    assert (
        create == "create_repo"
        and c["repo_id"] == "alice/creature"
        and c["private"] is True
        and c["repo_type"] == "model"
    )
    assert upload == "upload_folder" and u["repo_id"] == "alice/creature" and Path(u["folder_path"]) == out
    assert u["repo_type"] == "model" and "adapter_model.safetensors" in u["files"] and "README.md" in u["files"]
    # and through the CLI, with HfApi itself substituted
    RecordingApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    assert main(["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(tmp_path / "cli"), "--push"]) == 0
    assert [name for name, _ in RecordingApi.calls] == ["create_repo", "upload_folder"]
    assert (
        RecordingApi.calls[0][1]["private"] is False
        and Path(RecordingApi.calls[1][1]["folder_path"]) == tmp_path / "cli"
    )


def test_offline_push_fails_fast_with_exit_3_and_the_folder_ready(trained_creature, tmp_path, monkeypatch, capsys):
    from huggingface_hub import constants

    _, ckpt = trained_creature
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    out = tmp_path / "offline"
    t0 = time.perf_counter()
    code = main(["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(out), "--push", "--private"])
    assert time.perf_counter() - t0 < 5
    assert code == PUSH_FAILED == 3
    err = " ".join(capsys.readouterr().err.split())
    assert "offline" in err and str(out) in err
    assert f"hf upload alice/creature {out} . --repo-type model --private" in err
    assert (out / "adapter_model.safetensors").exists() and (out / "README.md").exists()


def test_unreachable_hub_gives_the_same_clear_failure(trained_creature, tmp_path):
    _, ckpt = trained_creature
    out = tmp_path / "nonet"
    t0 = time.perf_counter()
    with pytest.raises(PushFailed) as info:
        export_checkpoint(ckpt, "alice/creature", out=out, push=True, api=UnreachableApi())
    assert time.perf_counter() - t0 < 5
    assert "no network" in info.value.message and str(out) in info.value.message
    assert f"hf upload alice/creature {out} . --repo-type model" in info.value.message
    assert (out / "README.md").exists()


def test_a_token_in_the_environment_is_written_nowhere(trained_creature, tmp_path, monkeypatch, capsys):
    import huggingface_hub

    root, ckpt = trained_creature
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    RecordingApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    assert main(["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(tmp_path / "a"), "--push"]) == 0
    assert (
        main(["export", str(ckpt), "--repo-id", "alice/creature", "--merge", "--out", str(tmp_path / "m"), "--push"])
        == 0
    )
    assert (
        main(
            ["export-traces", str(root / "traces"), "--repo-id", "alice/traces", "--out", str(tmp_path / "t"), "--push"]
        )
        == 0
    )
    monkeypatch.setattr(huggingface_hub, "HfApi", UnreachableApi)
    assert main(["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(tmp_path / "u"), "--push"]) == 3
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) > 20
    assert [p for p in written if FAKE_TOKEN.encode() in p.read_bytes()] == []
    assert not any(FAKE_TOKEN in str(kw) for _, kw in RecordingApi.calls)  # never passed explicitly either
    out = capsys.readouterr()
    assert FAKE_TOKEN not in out.out + out.err
