"""TR304's claims, checked with the real coremltools: every example converts (VALID) or fails
with Core ML's rank error (INVALID), the documented fix converts, and on generated
view/unsqueeze/permute chains the linter reports exactly the chains `ct.convert` rejects."""

from __future__ import annotations

import importlib.util
import itertools
import logging
import re
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
ct = pytest.importorskip("coremltools")

from examples import example_source  # noqa: E402
from torchready.lint.engine import lint_source  # noqa: E402
from torchready.lint.rules import rule_by_code  # noqa: E402

RULE = rule_by_code("TR304")
RANK_ERROR = "Core ML only supports tensors with rank <= 5"
# Input shapes of the module each example converts (the last nn.Module class it defines).
EXAMPLE_INPUTS = {
    "Block": [(1, 14, 14, 3)], "SpaceToDepth": [(1, 2, 4, 4)], "Dynamic": [(2, 3, 4), (4, 6)],
    "Heads": [(1, 4, 16)], "Kernel": [(2, 18)], "Correlation": [(1, 3, 4, 4), (1, 3, 4, 4)],
    "Train": [(120,)], "CorrBlock": [(1, 3, 4, 4), (1, 3, 4, 4)], "Net": [(1, 2, 3, 3)],
    "Pool": [(1, 2, 4, 4)], "Attention": [(1, 8, 8)], "Tile": [(1, 2, 3, 3)],
    "Pairs": [(1, 2, 3, 3)], "Windows": [(1, 4, 4, 3)], "BlockSparse": [(1, 2, 4, 4)],
    "Offsets": [(1, 3, 2, 4, 2), (1, 3, 4)],
}
_files = itertools.count()


def _module_of(source: str, tmp_path):
    path = tmp_path / f"rank_{next(_files)}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _conversion_error(model, inputs, via_export: bool) -> str | None:
    """coremltools' message when the model does not convert (None: it converts)."""
    model = model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if via_export:
            program = torch.export.export(model, inputs).run_decompositions({})
            types = None
        else:
            program = torch.jit.trace(model, inputs)
            types = [ct.TensorType(shape=tuple(x.shape)) for x in inputs]
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)  # coremltools logs every converted op
        try:
            ct.convert(program, inputs=types, convert_to="mlprogram", skip_model_load=True)
        except ValueError as failure:
            return str(failure)
        finally:
            logging.disable(previous)
    return None


def _findings(source: str):
    return [d for d in lint_source(source, "model.py", [RULE]) if d.code == "TR304"]


def _example_model(source: str, tmp_path):
    module = _module_of(source, tmp_path)
    classes = [value for value in vars(module).values()
               if isinstance(value, type) and issubclass(value, torch.nn.Module)
               and value.__module__ == module.__name__]
    model_class = classes[-1]
    inputs = tuple(torch.rand(*shape) for shape in EXAMPLE_INPUTS[model_class.__name__])
    return model_class(), inputs


@pytest.mark.parametrize("kind, index", [(kind, index) for kind in ("VALID", "INVALID")
                                         for index in range(len(getattr(RULE, kind)))])
def test_examples_convert_or_fail_as_documented(kind, index, tmp_path):
    source = example_source(getattr(RULE, kind)[index].code)
    model, inputs = _example_model(source, tmp_path)
    error = _conversion_error(model, inputs, via_export=True)
    if kind == "VALID":
        assert error is None, error
    else:
        assert error is not None and RANK_ERROR in error, error


def test_the_correlation_volume_converts_once_leading_dimensions_are_merged(tmp_path):
    source = example_source(RULE.INVALID[0].code)
    [finding] = _findings(source)
    suggested = "view" + re.search(r"e\.g\. to shape `(\([^`]+\))`", finding.message).group(1)
    documented = "view(batch * ht * wd, 1, ht, wd)"  # the docstring's "Use instead"
    for fix in (suggested, documented):
        fixed = source.replace("view(batch, ht, wd, 1, ht, wd)", fix)
        assert _findings(fixed) == []
        model, inputs = _example_model(fixed, tmp_path)
        assert _conversion_error(model, inputs, via_export=True) is None


# -- generated chains ---------------------------------------------------------------------------
# A (2, 3, 4, 6) input viewed at rank 4..7, then a few rank-changing or elementwise steps, then
# either reshaped to rank 2 or returned as the model's output.
VIEWS = {4: (2, 3, 4, 6), 5: (2, 3, 4, 2, 3), 6: (2, 3, 4, 2, 3, 1), 7: (2, 3, 2, 2, 2, 3, 1)}
STEPS = ("permute", "unsqueeze", "none_index", "mul", "contiguous", "sum_last")


def _chain_source(view_rank: int, steps: list[str], reshape_back: bool) -> str:
    lines = [f"        y = x.view{VIEWS[view_rank]}"]
    rank = view_rank
    for step in steps:
        if step == "permute":
            order = (*range(rank - 2), rank - 1, rank - 2)
            lines.append(f"        y = y.permute{order}")
        elif step == "unsqueeze":
            lines.append("        y = y.unsqueeze(0)")
            rank += 1
        elif step == "none_index":
            lines.append("        y = y[:, None]")
            rank += 1
        elif step == "mul":
            lines.append("        y = y * 2")
        elif step == "contiguous":
            lines.append("        y = y.contiguous()")
        else:
            lines.append("        y = y.sum(-1)")
            rank -= 1
    lines.append("        return y.reshape(2, -1)" if reshape_back else "        return y")
    return ("import torch\nfrom torch import nn\n\n\nclass Chain(nn.Module):\n"
            "    def forward(self, x):\n" + "\n".join(lines) + "\n")


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(view_rank=st.sampled_from(sorted(VIEWS)),
       steps=st.lists(st.sampled_from(STEPS), max_size=3), reshape_back=st.booleans())
def test_findings_match_what_coremltools_rejects(view_rank, steps, reshape_back, tmp_path):
    source = _chain_source(view_rank, steps, reshape_back)
    model = _module_of(source, tmp_path).Chain()
    error = _conversion_error(model, (torch.rand(2, 3, 4, 6),), via_export=False)
    assert error is None or RANK_ERROR in error, error
    assert bool(_findings(source)) == (error is not None), (source, error)

