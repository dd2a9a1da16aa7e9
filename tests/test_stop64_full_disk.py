"""A full disk (or a file past `ulimit -f`) is one line naming the file that could not be written and what
to do: pyarrow's and f.write's errors (no filename), safetensors' and tokenizers' (no OSError at all), and
shutil's copy (the source in filename, the destination in filename2)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from glade.cli import main
from glade.cli.endings import os_error_line

ROOT = Path(__file__).resolve().parents[1]
FULL = "no space left on device; the disk is full: free some space, or choose a path on another disk; files it finished are kept"
RUST_FULL = "Error while serializing: I/O error: No space left on device (os error 28)"


def enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as f.write raises it: no filename


def test_a_write_in_atomic_that_names_no_file_names_the_file_it_was_writing(tmp_path, monkeypatch, capsys):
    # before: "error: [Errno 28] No space left on device" (summary.json, report.md, flags.json: no path, no hint)
    import glade.cli.simulate as verb
    from glade.files import atomic

    def run(args):
        with atomic(tmp_path / "summary.json") as tmp:
            tmp.write_text("{", encoding="utf-8")
            raise enospc()

    monkeypatch.setattr(verb, "run", run)
    assert main(["simulate"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {tmp_path / 'summary.json'}: {FULL}"
    assert list(tmp_path.iterdir()) == []  # the temporary is gone, no half file under the real name


def test_pyarrow_past_the_file_size_limit_names_the_shard(tmp_path):
    # before: "[Errno 27] Error writing bytes to file. Detail: [errno 27] File too large"
    shard = tmp_path / "part-0.parquet"
    script = (
        "import resource, sys; import pyarrow as pa, pyarrow.parquet as pq\n"
        "from glade.files import atomic; from glade.cli.endings import os_error_line\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "table = pa.table({'x': [str(i) * 50 for i in range(20000)]})\n"
        "try:\n"
        "    with atomic(__import__('pathlib').Path(sys.argv[1])) as tmp:\n"
        "        pq.write_table(table, str(tmp), compression='none')\n"
        "except OSError as exc:\n"
        "    print(os_error_line(exc))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", script, str(shard)], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == (
        f"{shard}: file too large; the file is larger than this system allows (`ulimit -f`, or the file system's "
        "limit): raise the limit, or choose a path on another disk; files it finished are kept"
    ), done.stderr


def test_a_full_disk_no_caller_named_still_says_what_to_do():
    # before: "[Errno 28] Error writing bytes to file. Detail: [errno 28] No space left on device"
    exc = OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")
    assert os_error_line(exc) == f"N{FULL[1:]}"
    quota = OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
    assert os_error_line(quota).startswith("Disk quota exceeded; the disk quota is used up: free some space")


def test_a_full_disk_in_a_copy_names_the_destination_not_the_source(tmp_path):
    # before: "SRC/adapter_model.safetensors: no space left on device; ..." (the input file blamed)
    exc = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    exc.filename, exc.filename2 = "/ck/adapter_model.safetensors", "/full/.exp.partial/adapter_model.safetensors"
    assert os_error_line(exc) == f"/full/.exp.partial/adapter_model.safetensors: {FULL}"
    atomic_copy = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    atomic_copy.filename, atomic_copy.filename2 = "/ck/a.json", "/full/.a.json.12-0123abcd.tmp"
    assert os_error_line(atomic_copy) == f"/full/a.json: {FULL}"
    denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/ck/a.json", None, "/out/a.json")
    assert os_error_line(denied).startswith("/ck/a.json: permission denied")  # a read may fail so: said as before


def test_a_library_s_full_disk_becomes_the_oserror_and_nothing_else_does(tmp_path):
    from safetensors import SafetensorError

    from glade.files import saved_into

    for raised in (SafetensorError(RUST_FULL), Exception("No space left on device (os error 28)")):
        with pytest.raises(OSError) as caught, saved_into(tmp_path / "m"):
            raise raised
        assert (caught.value.errno, caught.value.filename) == (errno.ENOSPC, str(tmp_path / "m"))
    with pytest.raises(SafetensorError), saved_into(tmp_path):  # a bad file, not a full disk: as it was
        raise SafetensorError("Error while deserializing header: HeaderTooLarge")
    with pytest.raises(RuntimeError), saved_into(tmp_path):  # only safetensors' and tokenizers' own classes
        raise RuntimeError("No space left on device (os error 28)")


def test_export_copy_on_a_full_disk_names_the_file_it_wrote(trained_creature, tmp_path, monkeypatch, capsys):
    # before: "error: CK/adapter_model.safetensors: no space left on device; ..." (the source, not the full disk)
    _, ckpt = trained_creature

    def sendfile(*args):
        raise enospc()

    monkeypatch.setattr(os, "sendfile", sendfile)
    code = main(["export", str(ckpt), "--repo-id", "me/x", "--out", str(tmp_path / "exp")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {tmp_path / '.exp.partial'}/"), err
    assert err.endswith(f": {FULL}") and str(ckpt) not in err


def test_export_write_that_names_no_file_names_the_export(trained_creature, tmp_path, monkeypatch, capsys):
    # before: "error: [Errno 28] No space left on device" (meta.json's or the card's write in the export folder)
    import glade.hub.export

    _, ckpt = trained_creature

    def add_license(*args):
        raise enospc()

    monkeypatch.setattr(glade.hub.export, "add_license", add_license)
    assert main(["export", str(ckpt), "--repo-id", "me/x", "--out", str(tmp_path / "exp")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {tmp_path / 'exp'}: {FULL}"
    assert list(tmp_path.iterdir()) == []  # its staging folder is gone


def test_merge_on_a_full_disk_is_one_line_naming_its_out(trained_creature, tmp_path, monkeypatch, capsys):
    # before: a traceback ending "SafetensorError: Error while serializing: I/O error: No space left on device"
    import transformers.modeling_utils
    from safetensors import SafetensorError

    _, ckpt = trained_creature

    def full(*args, **kwargs):
        raise SafetensorError(RUST_FULL)

    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", full)
    assert main(["merge", str(ckpt), "--out", str(tmp_path / "merged")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {tmp_path / 'merged'}: {FULL}"
    assert list(tmp_path.iterdir()) == []  # its staging folder is gone


def test_train_on_a_full_disk_at_a_checkpoint_says_resume(trained_creature, tmp_path, monkeypatch, capsys):
    # before: a traceback ending "SafetensorError: ... No space left on device (os error 28)" from trainer.train
    import peft.peft_model
    from safetensors import SafetensorError

    root, _ = trained_creature
    recipe = yaml.safe_load((root / "creature.yaml").read_text(encoding="utf-8"))
    recipe["output_root"] = str(tmp_path / "checkpoints")
    recipe["sft"] = {**recipe["sft"], "max_steps": 2, "save_steps": 1}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")

    def full(*args, **kwargs):
        raise SafetensorError(RUST_FULL)

    monkeypatch.setattr(peft.peft_model, "safe_save_file", full)
    assert main(["train", str(tmp_path / "r.yaml")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'checkpoints' / '.creature__0.partial' / 'trainer'}: no space left on device; the disk "
        "is full: free some space, then rerun with --resume: the trainer checkpoints it finished are kept"
    )
    monkeypatch.undo()  # room again: --resume drops the checkpoint the disk cut short and finishes
    assert main(["train", str(tmp_path / "r.yaml"), "--resume"]) == 0
    assert [p.name.split("__")[0] for p in (tmp_path / "checkpoints").iterdir()] == ["creature"]


def test_a_folder_that_cannot_be_written_is_named_by_its_absolute_path(tmp_path, monkeypatch, capsys):
    # before: "error: x: . cannot be written (...)" and ".: cannot be written (...)" for a read-only current folder
    import glade.files

    monkeypatch.chdir(tmp_path)
    real = os.access
    monkeypatch.setattr(glade.files.os, "access", lambda p, mode: False if str(p) == "." else real(p, mode))
    assert main(["simulate", "--turns", "2", "--quiet", "--out", "x"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: x: . cannot be written ({tmp_path}: a read-only disk, or no permission); choose a path you can write"
    )
    with pytest.raises(ValueError) as refused:
        glade.files.check_folder_path(Path("."))
    assert str(refused.value).startswith(f".: cannot be written ({tmp_path}: a read-only disk")
