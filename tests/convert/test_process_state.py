"""torchready leaves the process as it found it: coremltools' op and pass registries, its logger,
Python's warnings and coremltools' progress bars are the same before and after `to_coreml`,
`audit` and `torchready convert`, through TorchScript and torch.export, when the call succeeds, fails or
raises; a converter the user registered is the one the user's own ct.convert uses, even while a
torchready conversion runs in another thread."""

import logging
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from torchready import audit, to_coreml
from torchready.cli import main
from torchready.convert.coreml.quiet import COREMLTOOLS_LOGGER, import_coremltools
from torchready.lint.types import UsageError

ct = import_coremltools()

from coremltools.converters.mil.frontend.torch import register_torch_op  # noqa: E402
from coremltools.converters.mil.frontend.torch.ops import (  # noqa: E402
    scaled_dot_product_attention as coremltools_sdpa,
)
from coremltools.converters.mil.frontend.torch.torch_op_registry import (  # noqa: E402
    _TORCH_OPS_REGISTRY,
)
from coremltools.converters.mil.mil.passes.pass_registry import PASS_REGISTRY  # noqa: E402


class Boundaries(nn.Module):
    """Needs torchready's `diff` and `new_ones` (coremltools has neither)."""

    def forward(self, positions):
        steps = torch.diff(positions, prepend=positions[:, :1] - 1, dim=-1)
        return (steps != 1).to(torch.float32).cumsum(-1) + positions.new_ones(positions.size(1))


class RankSixThenResize(nn.Module):
    """Needs torchready's MIL pass (a rank-6 view) and its runtime-size resize (a size read from
    a flexible input)."""

    def forward(self, x, skip):
        b, c, h, w = x.shape
        folded = (x.view(b, c, 1, h, 1, w) * 2).reshape(b, c, h, w)
        return F.interpolate(folded, size=skip.shape[-2:], mode="bilinear")


class Unsupported(nn.Module):
    """No converter on either frontend: the conversion fails (not raises)."""

    def forward(self, x):
        return torch.lgamma(x.abs() + 1)


class Raises(nn.Module):
    def forward(self, x):
        raise ValueError("the example is refused")


class Attention(nn.Module):
    def forward(self, query, key, value):
        return F.scaled_dot_product_attention(query, key, value)


def _process_state():
    """Everything a conversion could leave changed, by identity where identity matters."""
    logger = logging.getLogger(COREMLTOOLS_LOGGER)
    children = {name: (child.level, child.propagate, tuple(child.handlers))
                for name, child in logging.Logger.manager.loggerDict.items()
                if name.startswith(COREMLTOOLS_LOGGER + ".") and isinstance(child, logging.Logger)}
    progress_bars = {(name, attribute): getattr(module, attribute)
                     for name, module in list(sys.modules.items())
                     if module is not None and name.startswith("coremltools")
                     for attribute in ("tqdm", "_tqdm") if hasattr(module, attribute)}
    return {
        "registry": dict(_TORCH_OPS_REGISTRY.name_to_func_mapping),
        "pass registry": dict(PASS_REGISTRY.passes),
        "coremltools logger": (logger.level, logger.propagate, tuple(logger.handlers),
                               tuple(logger.filters), logger.disabled),
        "coremltools child loggers": children,
        "other loggers": {name: logging.getLogger(name).level
                          for name in ("transformers", "torch", "")},
        "root handlers": tuple(logging.getLogger().handlers),
        "logging.disable": logging.root.manager.disable,
        "warnings": (warnings.showwarning, tuple(warnings.filters)),
        "stderr": sys.stderr,
        "progress bars": progress_bars,
    }


def test_both_frontends_look_converters_up_in_the_one_registry_the_snapshot_covers():
    from coremltools.converters.mil.frontend.torch import converter, internal_graph, ops

    # TorchScript: converter/ops; torch.export: internal_graph's `kind in registry` check
    assert converter._TORCH_OPS_REGISTRY is _TORCH_OPS_REGISTRY
    assert ops._TORCH_OPS_REGISTRY is _TORCH_OPS_REGISTRY
    assert internal_graph._TORCH_OPS_REGISTRY is _TORCH_OPS_REGISTRY


def _torchready_entries():
    ops = [name for name, func in _TORCH_OPS_REGISTRY.name_to_func_mapping.items()
           if (getattr(func, "__module__", "") or "").startswith("torchready")]
    passes = [name for name, graph_pass in PASS_REGISTRY.passes.items()
              if (getattr(graph_pass, "__module__", "") or "").startswith("torchready")]
    return sorted(ops + passes)


@pytest.fixture
def unchanged():
    """The process state before the test, and a check that it is the same afterwards."""
    before = _process_state()
    yield before
    after = _process_state()
    changed = [key for key in before if before[key] != after[key]]
    assert not changed, f"changed by the call: {changed}"
    assert _torchready_entries() == []


POSITIONS = (torch.tensor([[0.0, 1.0, 2.0, 0.0, 1.0]]),)


@pytest.mark.parametrize("mode", ["trace", "export"])
@pytest.mark.parametrize("call", [to_coreml, audit], ids=["to_coreml", "audit"])
def test_a_conversion_leaves_the_process_as_it_found_it(unchanged, call, mode):
    assert _torchready_entries() == []
    result = call(Boundaries(), POSITIONS, mode=mode, lint=False)
    assert result.ok, result.error
    applied = set(result.composite_ops_applied)
    assert {"diff", "new_ones"} <= applied  # torchready's converters did run inside the call


@pytest.mark.parametrize("mode", ["trace", "export"])
def test_the_mil_pass_and_the_runtime_size_resize_are_scoped_too(unchanged, mode):
    generator = torch.Generator().manual_seed(0)
    inputs = (torch.randn(1, 2, 3, 4, generator=generator), torch.zeros(1, 1, 5, 7))
    result = to_coreml(RankSixThenResize(), inputs, mode=mode, lint=False, parity=False,
                       flexible={"skip": {2: (2, 16), 3: (2, 16)}})
    assert result.ok, result.error
    assert "fold_rank_over_five" in result.conversion.graph_passes_applied
    assert "upsample_bilinear2d" in result.composite_ops_applied


@pytest.mark.parametrize("mode", ["trace", "export"])
def test_a_failed_conversion_leaves_the_process_as_it_found_it(unchanged, mode):
    result = to_coreml(Unsupported(), (torch.rand(2, 3),), mode=mode, lint=False)
    assert not result.ok and result.failed_stage in ("coverage", "convert")


def test_a_call_that_raises_leaves_the_process_as_it_found_it(unchanged):
    with pytest.raises(UsageError, match="the example is refused"):
        to_coreml(Raises(), (torch.rand(2, 3),), lint=False)


@pytest.mark.parametrize("mode", ["trace", "export"])
def test_the_command_line_leaves_the_process_as_it_found_it(unchanged, tmp_path, capsys, mode):
    model = tmp_path / "boundaries.py"
    model.write_text(textwrap.dedent('''
        import torch
        from torch import nn


        class Boundaries(nn.Module):
            def forward(self, positions):
                steps = torch.diff(positions, prepend=positions[:, :1] - 1, dim=-1)
                return (steps != 1).to(torch.float32).cumsum(-1)


        def build():
            return Boundaries(), (torch.tensor([[0.0, 1.0, 2.0, 0.0, 1.0]]),)
    '''))
    output = tmp_path / "Boundaries.mlpackage"
    assert main(["convert", f"{model}:build", "-o", str(output), "--mode", mode, "-q",
                 "--no-lint"]) == 0
    assert output.exists()
    assert main(["audit", f"{model}:nope", "-q"]) == 2  # a usage error after the scopes opened
    capsys.readouterr()


def _gqa_inputs():
    generator = torch.Generator().manual_seed(0)
    return (torch.randn(1, 4, 6, 8, generator=generator),
            torch.randn(1, 2, 6, 8, generator=generator),
            torch.randn(1, 2, 6, 8, generator=generator))


class GroupedQueryAttention(nn.Module):
    def forward(self, query, key, value):
        return F.scaled_dot_product_attention(query, key, value, enable_gqa=True)


def _users_own_convert(module, inputs):
    traced = torch.jit.trace(module.eval(), inputs)
    return ct.convert(traced, inputs=[ct.TensorType(shape=tuple(t.shape), dtype=np.float32)
                                      for t in inputs],
                      convert_to="mlprogram", skip_model_load=True)


@pytest.fixture
def users_sdpa_converter():
    """The user's own converter for scaled_dot_product_attention (it counts its calls and hands
    the node to coremltools'), registered before torchready runs and removed afterwards."""
    calls = []

    def scaled_dot_product_attention(context, node):
        calls.append(threading.get_ident())
        coremltools_sdpa(context, node)

    register_torch_op(scaled_dot_product_attention, override=True)
    try:
        yield scaled_dot_product_attention, calls
    finally:
        _TORCH_OPS_REGISTRY.set_func_by_name(coremltools_sdpa, "scaled_dot_product_attention")


def test_the_users_converter_is_what_their_own_convert_uses_afterwards(users_sdpa_converter):
    converter, calls = users_sdpa_converter
    result = to_coreml(GroupedQueryAttention(), _gqa_inputs(), mode="trace", lint=False)
    assert result.ok and "scaled_dot_product_attention" in result.composite_ops_applied
    # torchready fixed the GQA node and handed it to the converter registered before it
    assert calls
    assert _TORCH_OPS_REGISTRY.get_func("scaled_dot_product_attention") is converter
    calls.clear()
    inputs = tuple(torch.randn(1, 2, 6, 8) for _ in range(3))
    _users_own_convert(Attention(), inputs)
    assert len(calls) == 1


def test_another_thread_sees_coremltools_as_the_user_left_it_during_a_conversion(
        users_sdpa_converter, caplog):
    """While a torchready conversion is inside ct.convert in one thread, the user's own
    ct.convert in another thread gets no torchready converter, its own sdpa converter, and its
    coremltools log lines where they went before."""
    _converter, calls = users_sdpa_converter
    converting, other_done = threading.Event(), threading.Event()
    seen = {}

    # The user's converter for relu pauses torchready's conversion until the user's own
    # ct.convert is over: coremltools' MIL builder keeps one block stack per process, so two
    # conversions may nest like this but not interleave.
    def relu(context, node):
        from coremltools.converters.mil.frontend.torch.ops import relu as coremltools_relu

        if threading.current_thread() is torchready_thread:
            converting.set()
            other_done.wait(timeout=120)
        coremltools_relu(context, node)

    def users_thread():
        converting.wait(timeout=120)
        try:
            with pytest.raises(NotImplementedError, match="'diff' not implemented"):
                _users_own_convert(Boundaries(), POSITIONS)
            calls.clear()
            inputs = tuple(torch.randn(1, 2, 6, 8) for _ in range(3))
            _users_own_convert(Attention(), inputs)
            seen["sdpa calls"] = list(calls)
        except BaseException as error:  # reported by the main thread
            seen["error"] = error
        finally:
            other_done.set()

    class Pausing(nn.Module):
        def forward(self, positions):
            return torch.relu(Boundaries()(positions))

    def torchready_call():
        seen["result"] = to_coreml(Pausing(), POSITIONS, mode="trace", lint=False, parity=False)

    register_torch_op(relu, override=True)
    try:
        torchready_thread = threading.Thread(target=torchready_call)
        other = threading.Thread(target=users_thread)
        with caplog.at_level(logging.WARNING, logger=COREMLTOOLS_LOGGER):
            torchready_thread.start()
            other.start()
            other.join(timeout=300)
            torchready_thread.join(timeout=300)
    finally:
        from coremltools.converters.mil.frontend.torch.ops import relu as coremltools_relu

        _TORCH_OPS_REGISTRY.set_func_by_name(coremltools_relu, "relu")
    assert "error" not in seen, seen.get("error")
    assert seen["result"].ok and "diff" in seen["result"].composite_ops_applied
    assert seen["sdpa calls"] == [other.ident]
    assert not [r for r in caplog.records if r.thread == torchready_thread.ident]
    # the user's thread's coremltools error line reached the handlers it always reached
    assert any("converting 'diff' op" in record.getMessage() for record in caplog.records
               if record.thread == other.ident)
    assert _torchready_entries() == []
