"""Parity and shape probing as pipeline stages: `torchready audit` / `convert` (in process) and
`to_coreml`. A failed parity exits 1 with the table and the first divergence, and `convert` then
writes no package; `--no-parity` skips both stages."""

import json

import torch
from parity_helpers import line_of
from torch import nn

import parity_zoo
from torchready import to_coreml
from torchready.cli import main
from torchready.convert.parity.engine import ParityOptions

ZOO = parity_zoo.__file__


def _run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_audit_fails_on_fp16_overflow_and_names_the_line(capsys):
    code, out = _run(capsys, "audit", f"{ZOO}:large_scale", "--no-lint", "-q")
    assert code == 1
    assert "Failed at parity" in out
    assert "parity failure coreml output 'output': nonfinite failed" in out
    line = line_of(ZOO, "energy = features * 1e5")
    assert f"parity_zoo.py:{line} (aten::mul)" in out
    assert "converted again at fp32: parity pass" in out


def test_audit_passes_the_same_model_at_fp32_and_prints_the_table(capsys):
    code, out = _run(capsys, "audit", f"{ZOO}:large_scale", "--no-lint", "-q",
                     "--precision", "fp32")
    assert code == 0
    assert "Parity (fp32 compute precision" in out and "parity failure" not in out


def test_convert_writes_nothing_when_parity_fails_unless_told_not_to_check(capsys, tmp_path):
    package = tmp_path / "Large.mlpackage"
    code, _ = _run(capsys, "convert", f"{ZOO}:large_scale", "-o", str(package), "--no-lint", "-q")
    assert code == 1 and not package.exists()
    code, out = _run(capsys, "convert", f"{ZOO}:large_scale", "-o", str(package), "--no-lint",
                     "-q", "--no-parity")
    assert code == 0 and package.exists()
    assert "Parity (" not in out and "shape probes" not in out


def test_json_report_carries_parity_and_shape_probes(capsys):
    code, out = _run(capsys, "audit", f"{ZOO}:sequence_mean", "--no-lint", "-q",
                     "--format", "json", "--parity-inputs", "1")
    assert code == 0
    report = json.loads(out)
    parity = report["conversion"]["parity"]
    assert parity["status"] == "pass" and [c["label"] for c in parity["cases"]] == [
        "example", "random 1"]
    probes = report["conversion"]["shape_probes"]["dimensions"]
    assert {(d["dim"], d["status"]) for d in probes} == {
        (0, "follows"), (1, "specialized"), (2, "rejected")}
    # Found dynamically with the static rules off: the probe's TR102, naming the dimension.
    [finding] = [d for d in report["diagnostics"] if d["code"] == "TR102"]
    assert finding["origin"] == "probe"
    assert finding["line"] == line_of(ZOO, "/ math.sqrt(length)")
    assert "input 'x' dimension 1 (sequence" in finding["message"]


def test_parity_thresholds_on_the_command_line(capsys):
    code, out = _run(capsys, "audit", f"{ZOO}:lstm", "--no-lint", "-q", "--parity-inputs", "0",
                     "--parity-threshold", "psnr_pass_db=200", "--parity-threshold",
                     "psnr_fail_db=190")
    assert code == 1 and "psnr failed on example" in out
    assert main(["audit", f"{ZOO}:lstm", "--parity-threshold", "psnr=3"]) == 2
    assert "unknown parity threshold 'psnr'" in capsys.readouterr().err


class Embedder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(40, 8)

    def forward(self, tokens):
        return self.embed(tokens).mean(dim=1)


def test_to_coreml_runs_parity_by_default_and_takes_value_ranges():
    torch.manual_seed(0)
    tokens = torch.tensor([[1, 2, 3]])
    result = to_coreml(Embedder(), (tokens,), lint=False, value_ranges={"tokens": (30, 39)},
                       parity_options=ParityOptions(random_inputs=2))
    assert result.ok and result.parity.status == "pass"
    assert result.shape_probes is not None and result.timings["parity"] > 0
    [tokens_info] = result.parity.to_json()["inputs"]
    assert tokens_info == {"name": "tokens", "kind": "int", "range": [30, 39], "source": "spec"}
    skipped = to_coreml(Embedder(), (tokens,), lint=False, parity=False)
    assert skipped.ok and skipped.parity is None and skipped.shape_probes is None
    assert "parity" not in skipped.timings
