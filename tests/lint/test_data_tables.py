"""The data tables the linter ships (lint/data/*.json) against the installed torch and coremltools.

The linter reads them and never imports either package; these tests regenerate them with the real
packages and fail when a committed table is stale, and re-check the hand-written API -> aten map
(scripts/coreml_api_map.json) behind TR301 by tracing every example it carries.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

torch = pytest.importorskip("torch")

import generate_coreml_op_table  # noqa: E402
import generate_tensor_methods  # noqa: E402

API_MAP = json.loads((ROOT / "scripts" / "coreml_api_map.json").read_text(encoding="utf-8"))
HAS_COREMLTOOLS = importlib.util.find_spec("coremltools") is not None


def test_tensor_method_table_matches_installed_torch():
    fresh = generate_tensor_methods.render(generate_tensor_methods.build())
    committed = generate_tensor_methods.OUTPUT.read_text(encoding="utf-8")
    assert committed == fresh, "run python scripts/generate_tensor_methods.py"


# Both coremltools checks run in a fresh interpreter: conversion tests earlier in the same pytest
# process register torchready's composite ops (convert/composite_ops/) into coremltools' global
# registry, and the table describes coremltools as shipped.
def _pristine_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.skipif(not HAS_COREMLTOOLS, reason="coremltools is not installed")
def test_coreml_op_table_matches_installed_coremltools():
    done = _pristine_python("import sys; sys.path.insert(0, 'scripts'); "
                            "import generate_coreml_op_table as g; "
                            "sys.stdout.write(g.generate())")
    assert done.returncode == 0, done.stderr
    committed = generate_coreml_op_table.OUTPUT.read_text(encoding="utf-8")
    assert committed == done.stdout, "run python scripts/generate_coreml_op_table.py"


@pytest.mark.skipif(not HAS_COREMLTOOLS, reason="coremltools is not installed")
def test_every_unsupported_op_really_lacks_a_converter():
    done = _pristine_python("import json, sys; sys.path.insert(0, 'scripts'); "
                            "import generate_coreml_op_table as g; "
                            "_, registry = g.load_registry(); "
                            "table = json.loads(g.OUTPUT.read_text(encoding='utf-8')); "
                            "print(json.dumps([[row['api'], op] for row in table['unsupported'] "
                            "for op in row['aten'] if registry.get_func(op) is not None]))")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


class _Example(torch.nn.Module):
    """Runs one map example: `expr` over the standard inputs, `mod` the example's layer."""

    def __init__(self, expr: str, layer: torch.nn.Module | None) -> None:
        super().__init__()
        self.expr = expr
        self.layer = layer

    def forward(self, x, m, v, i, b):
        scope = {"torch": torch, "x": x, "m": m, "v": v, "i": i, "b": b, "mod": self.layer}
        return eval(self.expr, scope)


def _inputs():
    torch.manual_seed(0)
    scope = {"torch": torch}
    values = {}
    for name, text in API_MAP["example_inputs"].items():
        values[name] = eval(text, {**scope, **values})
    return tuple(values[name] for name in "xmvib")


def _traced(entry):
    layer = eval(entry["module"], {"torch": torch}) if "module" in entry else None
    model = _Example(entry["example"], layer).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        return torch.jit.trace(model, _inputs(), check_trace=False)


def _aten_ops(traced) -> set[str]:
    return {node.kind().split("::", 1)[1] for node in traced.inlined_graph.nodes()
            if node.kind().startswith("aten::")}


def test_every_mapped_api_records_its_aten_ops():
    """The hand-checked half of the table: each API's example, traced with torch, records the
    aten ops the map names (a wrong name would make TR301 point at the wrong op)."""
    wrong = []
    for entry in API_MAP["apis"]:
        recorded = _aten_ops(_traced(entry))
        if not set(entry["aten"]) <= recorded:
            wrong.append((entry["api"], entry["aten"], sorted(recorded)))
    assert wrong == []


@pytest.mark.skipif(not HAS_COREMLTOOLS, reason="coremltools is not installed")
@pytest.mark.parametrize("api", ["torch.linalg.det", "Tensor.view_as", "Tensor.prod",
                                 "torch.nn.EmbeddingBag"])
def test_coremltools_really_fails_on_the_op(api):
    """The claim of TR301's message, by the real converter: ct.convert stops with "PyTorch
    convert function for op '<op>' not implemented"."""
    import logging

    import numpy as np

    logging.getLogger("coremltools").setLevel(logging.CRITICAL)
    import coremltools as ct

    entry = next(e for e in API_MAP["apis"] if e["api"] == api)
    traced = _traced(entry)
    dtypes = {torch.float32: np.float32, torch.int64: np.int32, torch.bool: bool}
    inputs = [ct.TensorType(name=name, shape=tensor.shape, dtype=dtypes[tensor.dtype])
              for name, tensor in zip("xmvib", _inputs())]
    with pytest.raises(NotImplementedError, match=f"convert function for op "
                                                  f"'{entry['aten'][0]}' not implemented"):
        ct.convert(traced, inputs=inputs, convert_to="mlprogram", skip_model_load=True)
