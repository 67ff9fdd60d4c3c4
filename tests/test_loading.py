"""The one model loader: no foreign code, no pickles, devices checked, every failure one line;
and the commands beside it (convert, tokenizer train, probe) that write only on success."""

import json
import math
import os
import pickle
import shutil

import pytest
import torch
from click.testing import CliRunner

import bioseq.models  # noqa: F401  (registers the models)
from bioseq.cli.main import main
from bioseq.errors import InputError
from bioseq.models import TransformerConfig, TransformerLM
from bioseq.models.hub import load_model, resolve_device, resolve_model_dir
from bioseq.tokenizers import CharTokenizer

needs_no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("bioseq: error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    TransformerLM(TransformerConfig.from_preset("tiny", vocab_size=10)).save_pretrained(path)
    CharTokenizer("dna").save_pretrained(path)
    return path


def copy_of(folder, tmp_path, name="model"):
    target = tmp_path / name
    shutil.copytree(folder, target)
    return target


# -- foreign code --------------------------------------------------------------------------


def with_auto_map(tiny_dir, tmp_path, marker):
    """A model folder whose config names custom code that would write ``marker`` if run."""
    folder = copy_of(tiny_dir, tmp_path)
    (folder / "evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "from transformers import PretrainedConfig\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n"
    )
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.Evil"}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_auto_map_folder_is_refused_and_its_code_never_runs(tiny_dir, tmp_path):
    marker = tmp_path / "marker"
    folder = with_auto_map(tiny_dir, tmp_path, marker)
    with pytest.raises(InputError, match="--trust-remote-code") as err:
        load_model(folder, "cpu")
    assert "\n" not in str(err.value) and "evil.EvilConfig" in str(err.value)
    # a "y" on standard input must not be taken as consent either
    line = one_line_error(
        run(
            "probe",
            "--model",
            folder,
            "--functions",
            "1",
            "--shots",
            "1",
            "--trials",
            "1",
            "--out",
            tmp_path / "p",
            input="y\ny\n",
        )
    )
    assert "--trust-remote-code" in line
    assert not marker.exists()


def test_trust_remote_code_reaches_transformers_only_when_asked(tiny_dir, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    seen = []
    real_model, real_tok = AutoModelForCausalLM.from_pretrained, AutoTokenizer.from_pretrained

    def spy(real):
        def wrapped(*args, **kwargs):
            seen.append((kwargs.get("trust_remote_code"), kwargs.get("weights_only", True)))
            return real(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spy(real_model))
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", spy(real_tok))
    load_model(tiny_dir, "cpu")
    load_model(tiny_dir, "cpu", trust_remote_code=True)
    assert seen == [(False, True), (False, True), (True, True), (True, True)]


# -- weights that must not load ------------------------------------------------------------


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_bin_with_code_is_refused_in_one_line(tiny_dir, tmp_path):
    folder = copy_of(tiny_dir, tmp_path)
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "pwned"
    with open(folder / "pytorch_model.bin", "wb") as handle:
        pickle.dump({"lm_head.weight": _Payload(marker)}, handle, protocol=2)
    with pytest.raises(InputError) as err:
        load_model(folder, "cpu")
    assert "\n" not in str(err.value) and str(folder) in str(err.value)
    assert not marker.exists()
    line = one_line_error(
        run("probe", "--model", folder, "--functions", "1", "--shots", "1", "--out", tmp_path / "p")
    )
    assert str(folder) in line and not marker.exists()


def test_corrupt_safetensors_is_one_line(tiny_dir, tmp_path):
    folder = copy_of(tiny_dir, tmp_path)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as err:
        load_model(folder, "cpu")
    assert "\n" not in str(err.value) and str(folder) in str(err.value)


def test_plain_tensor_bin_still_loads(tiny_dir, tmp_path):
    folder = copy_of(tiny_dir, tmp_path)
    (folder / "model.safetensors").unlink()
    expected = load_model(tiny_dir, "cpu").model.state_dict()
    torch.save(expected, folder / "pytorch_model.bin")
    loaded = load_model(folder, "cpu").model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in expected.items())


# -- what the hub resolves ----------------------------------------------------------------


def test_site_independent_loads_by_name_with_its_alignment(tmp_path):
    from bioseq.tasks.variants import parse_mutant

    a2m = tmp_path / "fam.a2m"
    a2m.write_text(">WT/1-6\nMKVLAG\n>h1\nMKVLAG\n>h2\nMRVLSG\n>h3\nMKILAG\n")
    loaded = load_model("site-independent", alignment=a2m, theta=None, pseudocount=0.2)
    assert loaded.kind == "site-independent" and loaded.tokenizer is None and not loaded.masked
    # unweighted column 2: K 3 of 4, R 1 of 4, mixed with 0.2 of a uniform 1/20
    expected = math.log(0.8 * 0.25 + 0.01) - math.log(0.8 * 0.75 + 0.01)
    score, status = loaded.model.score_mutant(parse_mutant("K2R"))
    assert status == "ok" and score == pytest.approx(expected)
    with pytest.raises(InputError, match="needs --alignment"):
        load_model("site-independent")
    with pytest.raises(InputError, match="probes need a causal LM"):
        load_model("site-independent", alignment=a2m, causal_only="probes need a causal LM")


def test_run_and_finetune_directories_resolve_to_their_model(tiny_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_dir, run / "checkpoints" / "step-3")
    (run / "checkpoints" / "step-3" / "trainer_state.pt").write_bytes(b"")
    shutil.copytree(tiny_dir, run / "checkpoints" / "step-9")  # no state: incomplete
    assert resolve_model_dir(run) == run / "checkpoints" / "step-3"
    shutil.copytree(tiny_dir, run / "final")
    assert resolve_model_dir(run) == run / "final" and load_model(run, "cpu").path == run / "final"
    tuned = tmp_path / "tuned"
    shutil.copytree(tiny_dir, tuned / "best")
    assert resolve_model_dir(tuned, finetuned=True) == tuned / "best"
    assert resolve_model_dir(tiny_dir, finetuned=True) == tiny_dir
    with pytest.raises(InputError, match="neither a finetune run"):
        resolve_model_dir(run, finetuned=True)
    with pytest.raises(InputError, match="no such model directory"):
        resolve_model_dir(tmp_path / "nowhere")


# -- devices -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "gpu0", ""])
def test_unknown_devices_are_one_line(name):
    with pytest.raises(InputError, match="unknown device"):
        resolve_device(name)


def test_default_and_cpu_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")


@needs_no_cuda
@pytest.mark.parametrize("name", ["cuda", "cuda:1", "CUDA"])
def test_cuda_without_cuda_is_one_line(name):
    with pytest.raises(InputError, match="CUDA is not available"):
        resolve_device(name)


@needs_no_cuda
def test_probe_device_checked_before_loading(tiny_dir, tmp_path):
    line = one_line_error(
        run("probe", "--model", tiny_dir, "--device", "cuda", "--out", tmp_path / "p")
    )
    assert "CUDA is not available" in line
    assert "unknown device" in one_line_error(
        run("probe", "--model", tiny_dir, "--device", "banana", "--out", tmp_path / "p")
    )


def test_probe_out_under_a_file_is_one_line(tiny_dir, tmp_path):
    (tmp_path / "file").write_text("x")
    line = one_line_error(run("probe", "--model", tiny_dir, "--out", tmp_path / "file" / "p"))
    assert "is a file" in line


# -- convert -------------------------------------------------------------------------------


def hyenadna_folder(tmp_path, drop=None):
    folder = tmp_path / "hyenadna"
    folder.mkdir()
    config = {
        "model_type": "hyenadna",
        "vocab_size": 12,
        "d_model": 16,
        "n_layer": 1,
        "max_seq_len": 64,
    }
    config.pop(drop, None)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("key", ["vocab_size", "d_model", "n_layer", "max_seq_len"])
def test_convert_hyenadna_config_missing_a_key_is_one_line(tmp_path, key):
    line = one_line_error(run("convert", hyenadna_folder(tmp_path, drop=key), tmp_path / "out"))
    assert repr(key) in line and "config.json" in line
    assert not (tmp_path / "out").exists()


def test_convert_refuses_a_non_empty_destination_and_keeps_it(tiny_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    line = one_line_error(run("convert", tiny_dir, out))
    assert "--overwrite" in line and (out / "mine.txt").read_text() == "keep me"
    result = run("convert", tiny_dir, out, "--overwrite")
    assert result.exit_code == 0, result.output
    assert not (out / "mine.txt").exists() and (out / "model.safetensors").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_convert_failure_leaves_the_old_destination(tiny_dir, tmp_path):
    out = tmp_path / "out"
    assert run("convert", tiny_dir, out).exit_code == 0
    before = (out / "model.safetensors").read_bytes()
    broken = copy_of(tiny_dir, tmp_path, "broken")
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    one_line_error(run("convert", broken, out, "--overwrite"))
    assert (out / "model.safetensors").read_bytes() == before


# -- tokenizer train -----------------------------------------------------------------------


def test_tokenizer_train_never_replaces_out_unasked(tmp_path):
    out = tmp_path / "tok"
    assert (
        run("tokenizer", "train", "--type", "kmer", "--k", "3", "--out", out, "-q").exit_code == 0
    )
    saved = sorted(p.name for p in out.iterdir())
    line = one_line_error(run("tokenizer", "train", "--type", "kmer", "--k", "4", "--out", out))
    assert "--overwrite" in line
    assert json.loads((out / "tokenizer_config.json").read_text()).get("k") in (3, None)
    # a failing run with --overwrite keeps the old tokenizer too
    one_line_error(
        run(
            "tokenizer",
            "train",
            "--type",
            "kmer",
            "--alphabet",
            "protein",
            "--out",
            out,
            "--overwrite",
        )
    )
    assert sorted(p.name for p in out.iterdir()) == saved
    result = run(
        "tokenizer", "train", "--type", "kmer", "--k", "4", "--out", out, "--overwrite", "-q"
    )
    assert result.exit_code == 0, result.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def scoring_commands(folder, tmp_path) -> dict[str, list]:
    """score-vcf and score-mutations over tiny, valid inputs, loading ``folder``."""
    fasta = tmp_path / "ref.fa"
    fasta.write_text(">chr1\n" + "ACGT" * 50 + "\n")
    vcf = tmp_path / "calls.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=200>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchr1\t50\t.\tC\tA\t.\t.\t.\n"
    )
    table = tmp_path / "dms.csv"
    table.write_text("mutant,score\nM1A,0.5\nK2A,0.1\n")
    return {
        "score-vcf": [
            "score-vcf",
            "--model",
            folder,
            "--fasta",
            fasta,
            "--vcf",
            vcf,
            "--out",
            tmp_path / "s.tsv",
            "--window",
            64,
            "--no-progress",
        ],
        "score-mutations": [
            "score-mutations",
            "--model",
            folder,
            "--wildtype",
            "MKV",
            "--mutations",
            table,
            "--out",
            tmp_path / "m.csv",
            "--no-progress",
        ],
    }


@pytest.mark.parametrize("command", ["score-vcf", "score-mutations"])
def test_scoring_commands_refuse_auto_map_folders(tiny_dir, tmp_path, command):
    marker = tmp_path / "marker"
    folder = with_auto_map(tiny_dir, tmp_path, marker)
    args = scoring_commands(folder, tmp_path)[command]
    line = one_line_error(run(*args, input="y\ny\n"))
    assert "--trust-remote-code" in line and str(folder) in line
    assert not marker.exists()
    assert not (tmp_path / "s.tsv").exists() and not (tmp_path / "m.csv").exists()


@needs_no_cuda
@pytest.mark.parametrize("command", ["score-vcf", "score-mutations"])
@pytest.mark.parametrize("device", ["cuda", "warp-drive"])
def test_scoring_commands_check_the_device_in_one_line(tiny_dir, tmp_path, command, device):
    args = scoring_commands(tiny_dir, tmp_path)[command]
    line = one_line_error(run(*args, "--device", device))
    assert "--device" in line
