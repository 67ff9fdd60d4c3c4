"""bioseq.io.outputs: outputs checked up front, written beside the target, renamed on success."""

import errno

import pytest

from bioseq.errors import InputError
from bioseq.io.outputs import (
    atomic_directory,
    atomic_output,
    check_output,
    replace_dir,
    write_text_atomic,
)

DISK_FULL = OSError(errno.ENOSPC, "No space left on device")


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp-"))


@pytest.mark.parametrize("name", ["folder", "folder/", "file/out.csv", "file/sub/out.csv", ""])
def test_check_output_refuses_what_cannot_be_a_file(tmp_path, name):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    path = "" if name == "" else f"{tmp_path}/{name}"
    with pytest.raises(InputError) as err:
        check_output(path, "--out")
    assert str(err.value).startswith("--out ") and "\n" not in str(err.value)


def test_check_output_refuses_special_files_and_makes_parents(tmp_path):
    with pytest.raises(InputError, match="not a regular file"):
        check_output("/dev/null")
    target = check_output(tmp_path / "a" / "b" / "out.tsv")
    assert target.parent.is_dir() and not target.exists() and not leftovers(target.parent)


def test_atomic_output_replaces_only_on_success(tmp_path):
    out = tmp_path / "scores.vcf.gz"
    out.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(out) as tmp:
        assert tmp.name.endswith(".vcf.gz") and tmp.parent == tmp_path
        tmp.write_text("half")
        raise RuntimeError("the command failed")
    assert out.read_text() == "old" and not leftovers(tmp_path)
    with pytest.raises(InputError, match="no space left") as err, atomic_output(out) as tmp:
        tmp.write_text("half")
        raise DISK_FULL
    assert str(out) in str(err.value) and out.read_text() == "old" and not leftovers(tmp_path)
    with atomic_output(out) as tmp:
        tmp.write_text("new")
    assert out.read_text() == "new" and not leftovers(tmp_path)


def test_companions_move_with_the_output_and_stale_ones_go(tmp_path):
    out = tmp_path / "s.vcf.gz"
    with atomic_output(out, companions=(".tbi",)) as tmp:
        tmp.write_text("v1")
        (tmp_path / f"{tmp.name}.tbi").write_text("index of v1")
    assert (tmp_path / "s.vcf.gz.tbi").read_text() == "index of v1"
    with atomic_output(out, companions=(".tbi",)) as tmp:
        tmp.write_text("v2, not indexed")
    assert out.read_text() == "v2, not indexed" and not (tmp_path / "s.vcf.gz.tbi").exists()


def test_atomic_directory(tmp_path):
    out = tmp_path / "tok"
    out.mkdir()
    (out / "mine").write_text("keep")
    with pytest.raises(InputError, match="--overwrite"), atomic_directory(out):
        pass
    with pytest.raises(RuntimeError), atomic_directory(out, overwrite=True) as tmp:
        (tmp / "new").write_text("x")
        raise RuntimeError("failed")
    assert [p.name for p in out.iterdir()] == ["mine"] and not leftovers(tmp_path)
    with atomic_directory(out, overwrite=True) as tmp:
        (tmp / "new").write_text("x")
    assert [p.name for p in out.iterdir()] == ["new"] and not leftovers(tmp_path)


def test_replace_dir_and_write_text_atomic(tmp_path, monkeypatch):
    old, new = tmp_path / "final", tmp_path / "tmp"
    old.mkdir()
    (old / "a").write_text("old")
    new.mkdir()
    (new / "a").write_text("new")
    replace_dir(new, old)
    assert (old / "a").read_text() == "new" and not new.exists() and not leftovers(tmp_path)
    path = tmp_path / "config.yaml"
    write_text_atomic(path, "a: 1\n")
    monkeypatch.setattr("pathlib.Path.write_text", lambda *a, **k: (_ for _ in ()).throw(DISK_FULL))
    with pytest.raises(InputError, match="no space left"):
        write_text_atomic(path, "a: 2\n")
    assert path.read_bytes() == b"a: 1\n" and not leftovers(tmp_path)
