"""Export's push: through HfApi (faked at the network boundary), offline or unreachable Hubs give
exit 3 quickly with the folder ready, and a token in the environment is written nowhere. The
repo ends up holding exactly the folder, private when asked even if it existed public; a 403
names both causes; an adapter on a local base is refused before anything is written or pushed."""

import time
from pathlib import Path

import pytest
from fake_hub import FAKE_TOKEN, RecordingApi, RefusingApi, UnreachableApi

from glade.cli import main
from glade.hub.cards import PUSH_FAILED, PushFailed
from glade.hub.export import export_checkpoint
from glade.hub.export_traces import export_traces

BASE = "alice/tiny-base"  # the adapter's base on the Hub: an adapter on a local base is not pushed


def test_push_creates_the_repo_and_uploads_the_folder(trained_creature, tmp_path, monkeypatch):
    import huggingface_hub

    _, ckpt = trained_creature
    RecordingApi.reset()
    out = export_checkpoint(
        ckpt, "alice/creature", private=True, out=tmp_path / "pushed", push=True, api=RecordingApi(), base_model=BASE
    )
    (create, c), (info, _), (upload, u) = RecordingApi.calls
    assert (
        create == "create_repo"
        and c["repo_id"] == "alice/creature"
        and c["private"] is True
        and c["repo_type"] == "model"
    )
    assert info == "repo_info" and RecordingApi.repos["alice/creature"]["private"] is True  # created private
    assert upload == "upload_folder" and u["repo_id"] == "alice/creature" and Path(u["folder_path"]) == out
    assert u["repo_type"] == "model" and "adapter_model.safetensors" in u["files"] and "README.md" in u["files"]
    # and through the CLI, with HfApi itself substituted
    RecordingApi.reset()
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    argv = ["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(tmp_path / "cli"), "--push"]
    assert main([*argv, "--base-model", BASE]) == 0
    assert [name for name, _ in RecordingApi.calls] == ["create_repo", "upload_folder"]
    assert (
        RecordingApi.calls[0][1]["private"] is None  # the Hub's default: an organization's may be private
        and Path(RecordingApi.calls[1][1]["folder_path"]) == tmp_path / "cli"
    )


def test_offline_push_fails_fast_with_exit_3_and_the_folder_ready(trained_creature, tmp_path, monkeypatch, capsys):
    from huggingface_hub import constants

    _, ckpt = trained_creature
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    out = tmp_path / "offline"
    t0 = time.perf_counter()
    argv = ["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(out), "--push", "--private"]
    code = main([*argv, "--base-model", BASE])
    assert time.perf_counter() - t0 < 5
    assert code == PUSH_FAILED == 3
    err = " ".join(capsys.readouterr().err.split())
    assert "offline" in err and str(out) in err
    # `hf upload --private` leaves an existing repo's visibility alone: the command makes it private first
    assert (
        "hf repos create alice/creature --repo-type model --private --exist-ok && "
        "hf repos settings alice/creature --repo-type model --private && "
        f"hf upload alice/creature {out} . --repo-type model --delete '*'"
    ) in err
    assert (out / "adapter_model.safetensors").exists() and (out / "README.md").exists()


def test_unreachable_hub_gives_the_same_clear_failure(trained_creature, tmp_path):
    _, ckpt = trained_creature
    out = tmp_path / "nonet"
    t0 = time.perf_counter()
    with pytest.raises(PushFailed) as info:
        export_checkpoint(ckpt, "alice/creature", out=out, push=True, api=UnreachableApi(), base_model=BASE)
    assert time.perf_counter() - t0 < 5
    assert "no network" in info.value.message and str(out) in info.value.message
    assert info.value.message.endswith(
        f"push it later with: hf upload alice/creature {out} . --repo-type model --delete '*'"
    )
    assert (out / "README.md").exists()


def test_a_token_in_the_environment_is_written_nowhere(trained_creature, tmp_path, monkeypatch, capsys):
    import huggingface_hub

    root, ckpt = trained_creature
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    RecordingApi.reset()
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    argv = ["export", str(ckpt), "--repo-id", "alice/creature", "--base-model", BASE, "--push"]
    assert main([*argv, "--out", str(tmp_path / "a"), "--private"]) == 0
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
    assert main([*argv, "--out", str(tmp_path / "u")]) == 3
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) > 20
    assert [p for p in written if FAKE_TOKEN.encode() in p.read_bytes()] == []
    assert not any(FAKE_TOKEN in str(kw) for _, kw in RecordingApi.calls)  # never passed explicitly either
    out = capsys.readouterr()
    assert FAKE_TOKEN not in out.out + out.err


def test_private_makes_an_existing_public_repo_private_before_uploading(
    trained_creature, tmp_path, monkeypatch, capsys
):
    import huggingface_hub

    _, ckpt = trained_creature
    RecordingApi.reset({"alice/creature": {"private": False, "files": {".gitattributes", "README.md"}}})
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    argv = ["export", str(ckpt), "--repo-id", "alice/creature", "--base-model", BASE, "--push", "--private"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0
    names = [name for name, _ in RecordingApi.calls]
    assert names == ["create_repo", "repo_info", "update_repo_settings", "upload_folder"]  # private, then upload
    settings = RecordingApi.calls[2][1]
    assert settings["repo_id"] == "alice/creature" and settings["private"] is True and settings["repo_type"] == "model"
    assert RecordingApi.repos["alice/creature"]["private"] is True
    out = capsys.readouterr().out
    assert "alice/creature existed and was public: made it private (--private) before uploading" in out
    assert "pushed: https://huggingface.co/alice/creature (private)" in out
    # without --private an existing repo keeps its visibility, and nothing asks for it
    RecordingApi.reset({"alice/creature": {"private": True, "files": {".gitattributes"}}})
    assert main([*argv[:-1], "--out", str(tmp_path / "again")]) == 0
    assert [name for name, _ in RecordingApi.calls] == ["create_repo", "upload_folder"]
    assert RecordingApi.repos["alice/creature"]["private"] is True


def test_the_repo_ends_up_holding_exactly_the_folder(trained_creature, tmp_path):
    root, ckpt = trained_creature
    stale = {".gitattributes", "README.md", "training_args.bin", "old/pytorch_model.bin", "notes.txt"}
    RecordingApi.reset({"alice/creature": {"private": False, "files": stale}})
    out = export_checkpoint(ckpt, "alice/creature", out=tmp_path / "m", push=True, api=RecordingApi(), base_model=BASE)
    upload = RecordingApi.calls[-1][1]
    assert upload["delete_patterns"] == "*"
    folder = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert RecordingApi.repos["alice/creature"]["files"] == folder | {".gitattributes"}  # the Hub needs that one
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in RecordingApi.repos["alice/creature"]["files"])
    # a dataset repo too: a shard of an earlier, larger export does not stay behind
    RecordingApi.reset({"alice/traces": {"private": False, "files": {".gitattributes", "data/part-00099.parquet"}}})
    out = export_traces(root / "traces", "alice/traces", out=tmp_path / "t", push=True, api=RecordingApi())
    assert RecordingApi.repos["alice/traces"]["files"] == {
        str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()
    } | {".gitattributes"}


@pytest.mark.parametrize(
    "status, words",
    [
        (
            403,
            ["refused to write to bob/creature (HTTP 403)", "the token lacks write access", "'bob' is not a namespace"],
        ),
        (401, ["did not accept the token (HTTP 401)", "HF_TOKEN"]),
    ],
)
def test_a_refusal_names_the_token_or_the_namespace(trained_creature, tmp_path, monkeypatch, status, words):
    _, ckpt = trained_creature
    monkeypatch.setattr(RefusingApi, "status", status)
    with pytest.raises(PushFailed) as info:
        export_checkpoint(ckpt, "bob/creature", out=tmp_path / "x", push=True, api=RefusingApi(), base_model=BASE)
    message = info.value.message
    assert all(w in message for w in words), message
    assert "refused the token" not in message and (tmp_path / "x" / "README.md").exists()


def test_an_adapter_on_a_local_base_is_refused_before_anything_is_written_or_pushed(
    trained_creature, tmp_path, monkeypatch, capsys
):
    import huggingface_hub

    _, ckpt = trained_creature
    RecordingApi.reset()
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    out = tmp_path / "local"
    assert main(["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(out), "--push"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error:") and "the adapter's base model is a local folder" in err
    assert "--base-model OWNER/NAME" in err and "nothing was written or pushed" in err
    assert RecordingApi.calls == [] and not out.exists() and not list(tmp_path.glob(".*partial"))
    # offline, it is the same refusal (not exit 3 with the warning never shown)
    monkeypatch.setattr(huggingface_hub, "HfApi", UnreachableApi)
    assert main(["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(out), "--push"]) == 2
    # merged, the export needs no base model: it pushes
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    assert main(["export", str(ckpt), "--repo-id", "alice/merged", "--out", str(out), "--push", "--merge"]) == 0
    assert [name for name, _ in RecordingApi.calls] == ["create_repo", "upload_folder"]


def test_private_without_push_says_it_did_nothing_and_how_to_push_private(trained_creature, tmp_path, capsys):
    root, ckpt = trained_creature
    argv = ["export", str(ckpt), "--repo-id", "alice/creature", "--base-model", BASE, "--private"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "--private acts only with --push, and nothing was pushed" in err and "hf repos create alice/creature" in err
    argv = ["export-traces", str(root / "traces"), "--repo-id", "alice/traces", "--out", str(tmp_path / "t")]
    assert main([*argv, "--private"]) == 0
    assert "--repo-type dataset --private" in " ".join(capsys.readouterr().err.split())
    assert main(argv) == 0 and "--private" not in capsys.readouterr().err
