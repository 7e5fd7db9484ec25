"""Proof that the fixes fix the model: real torch.jit.trace/script on the fixtures, before and
after `torchready lint --fix`."""

from __future__ import annotations

import importlib.util
import shutil
import sys
import warnings

import pytest

from helpers import ROOT
from torchready.lint.api import lint_paths

torch = pytest.importorskip("torch")

FIXTURES = ["attention.py", "sentence_completion.py", "segmentation.py"]


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """(original module, fixed module) per fixture, the fixed one rewritten by --fix."""
    folder = tmp_path_factory.mktemp("fixed")
    for name in FIXTURES:
        shutil.copy(ROOT / "fixtures" / name, folder / name)
    run = lint_paths([str(folder)], fix=True)
    assert run.fixes_applied == 2 and not run.errors
    return {name: (load(ROOT / "fixtures" / name, f"original_{name[:-3]}"),
                   load(folder / name, f"fixed_{name[:-3]}")) for name in FIXTURES}


def trace(module, inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings are the point here, and jit is deprecated
        return torch.jit.trace(module, inputs)


def attention_inputs(dim):
    generator = torch.Generator().manual_seed(dim)
    return tuple(torch.randn(1, 4, 8, dim, generator=generator) for _ in range(3))


def test_attention_trace_is_wrong_at_another_size_before_the_fix_and_right_after(versions):
    original, fixed = versions["attention.py"]
    for module, should_generalize in ((original, False), (fixed, True)):
        model, example = module.build()
        traced = trace(model, example)
        assert torch.allclose(traced(*example), model(*example), atol=1e-6)
        other = attention_inputs(64)  # traced at 16 features, run at 64
        matches = torch.allclose(traced(*other), model(*other), atol=1e-5)
        assert matches is should_generalize


def test_sentence_completion_scripts_only_after_the_fix(versions):
    original, fixed = versions["sentence_completion.py"]
    with pytest.raises(RuntimeError, match="previously matched to type Tensor is matched to type int"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            original.build_scripted()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = fixed.build_scripted()
    eager, (tokens,) = fixed.build()
    eager.eval()
    completion = scripted(tokens)
    assert torch.equal(completion, eager(tokens))
    assert completion.shape[1] > tokens.shape[1]
    assert fixed.decode(completion).startswith("The Manhattan bridge is")


@pytest.mark.parametrize("name", FIXTURES)
def test_fixed_fixtures_compute_what_the_originals_compute(versions, name):
    original, fixed = versions[name]
    torch.manual_seed(0)
    model_a, inputs = original.build()
    torch.manual_seed(0)
    model_b, _ = fixed.build()
    model_a.eval(), model_b.eval()
    out_a, out_b = model_a(*inputs), model_b(*inputs)
    if isinstance(out_a, dict):
        assert out_a.keys() == out_b.keys()
        out_a, out_b = list(out_a.values()), list(out_b.values())
    else:
        out_a, out_b = [out_a], [out_b]
    for a, b in zip(out_a, out_b):
        assert torch.equal(a, b)
