"""The model zoo: how many real models reach a Core ML package that passes parity, by hand and
with torchready.

    python benchmarks/zoo.py                 # the whole zoo (benchmarks/zoo_models.py)
    python benchmarks/zoo.py --quick         # the CI subset
    python benchmarks/zoo.py --markdown      # the README table, exactly
    python benchmarks/zoo.py --only llama bert --json out.json

Each model goes through these paths, each from a freshly built copy (same seed, same weights):

* vanilla: what a user writes by hand following coremltools' docs, with no help:
  `torch.jit.trace(model.eval(), example_inputs)` then `ct.convert(traced, inputs=[
  ct.TensorType(shape=..., dtype=...)], convert_to="mlprogram")` (declared dtypes follow the
  example: int32 for integer inputs, fp32 otherwise; `skip_model_load` off macOS).
* by hand, outputs unwrapped: the same, with the one fix coremltools' documentation gives for
  models that return a dict (the WWDC talk's wrapper module returning a tuple of the output's
  tensors). It shows the walls a user meets after the first one.
* torchready: `torchready.to_coreml(model, example_inputs)` in auto mode, or with the factory's
  ModelSpec as the CLI would use it.

Parity compares the torchready model with eager PyTorch on the example inputs and on one random
input of the same kind: the parity engine's verdict when `to_coreml` returns one; until then the
converted program runs in torchready's MIL reference runtime (fp16 storage emulated, like the
device) and each output is judged with coremltools' PSNR formula: >= 40 dB passes, 35..40 dB
passes with a warning, below fails (integer outputs must be equal).

* export: `torchready.to_coreml(..., mode="export")`: torch.export.export of the same prepared model,
  then coremltools' export frontend, with the same parity check (`--no-export` skips it).

The last line is `vanilla=N/M torchready=K/M parity=P/M export=E/M` (E: converted through
torch.export with parity).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from torchready.convert.coreml.errors import first_line  # noqa: E402  (after the path set-up)

PSNR_PASS_DB = 40.0  # coremltools' debugging docs gate
PSNR_WARN_DB = 35.0  # coremltools' bisect_model / ml-stable-diffusion absolute minimum
DEGENERATE_PEAK = 1e-6  # an eager float output below this everywhere cannot show a difference


@dataclass
class PathResult:
    ok: bool
    stage: str | None = None  # where it failed: "build", "trace", "capture", "convert", ...
    error: str | None = None  # first line of the error
    code: str | None = None  # torchready's diagnostic code for the failure
    seconds: float = 0.0
    detail: str = ""  # ok: capture mode and the fixes applied; failure: where (file:line)


@dataclass
class Parity:
    verdict: str  # "pass" | "warn" | "fail" | "degenerate" (nothing to compare) | "n/a"
    worst_psnr: float | None = None
    seconds: float = 0.0
    detail: str = ""
    source: str = "milrt"  # "engine" when the parity engine judged


@dataclass
class ZooRow:
    name: str
    family: str
    vanilla: PathResult
    unwrapped: PathResult
    torchready: PathResult
    parity: Parity = field(default_factory=lambda: Parity("n/a"))
    # torchready --mode export (torch.export.export + ct.convert) and its parity; None: not run
    export: PathResult | None = None
    export_parity: Parity = field(default_factory=lambda: Parity("n/a"))

    @property
    def parity_ok(self) -> bool:
        return self.torchready.ok and self.parity.verdict in ("pass", "warn")

    @property
    def export_ok(self) -> bool:
        """Converted through torch.export with parity."""
        return bool(self.export and self.export.ok
                    and self.export_parity.verdict in ("pass", "warn"))


# --- the three paths ----------------------------------------------------------------------------


def _unpack(built: Any) -> tuple[Any, tuple]:
    from torchready import ModelSpec

    if isinstance(built, ModelSpec):
        return built.module, tuple(built.example_inputs)
    module, inputs = built
    return module, inputs if isinstance(inputs, tuple) else (inputs,)


def run_vanilla(zoo_model: Any, unwrap_outputs: bool = False) -> PathResult:
    """torch.jit.trace + ct.convert, exactly as the coremltools guide shows it; with
    `unwrap_outputs`, through the documented wrapper that returns the outputs as a tuple."""
    import numpy as np
    import torch

    from torchready.convert.coreml.quiet import import_coremltools, recording, routed

    ct = import_coremltools()
    module, inputs = _unpack(zoo_model.build())
    started = time.perf_counter()  # conversion time only, not the time to build the model
    module.eval()
    if unwrap_outputs:
        module = tuple_outputs(module)
    stage = "trace"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(module, inputs)
        stage = "convert"
        declared = [ct.TensorType(name=f"input_{i}", shape=tuple(t.shape),
                                  dtype=np.float32 if t.is_floating_point() else np.int32)
                    for i, t in enumerate(inputs)]
        # coremltools' progress bars and log lines are recorded, not printed; its converters
        # are the ones it ships with (torchready's exist only inside torchready's calls).
        with routed(), recording():
            ct.convert(traced, inputs=declared, convert_to="mlprogram",
                       skip_model_load=sys.platform != "darwin")
    except Exception as error:  # whatever a user would see
        return PathResult(False, stage, f"{type(error).__name__}: {first_line(error)}",
                          seconds=time.perf_counter() - started)
    return PathResult(True, seconds=time.perf_counter() - started)


def tuple_outputs(model: Any) -> Any:
    """The talk's fix for dict outputs, written once for any model: a wrapper whose forward
    returns the tensors of the model's output (dict / ModelOutput values, tuple items) as a
    tuple, dropping what is not a tensor (None, key/value cache objects)."""
    import torch

    def leaves(value: Any) -> list[Any]:
        if isinstance(value, torch.Tensor):
            return [value]
        if isinstance(value, dict):  # ModelOutput is an OrderedDict of its non-None fields
            return [leaf for item in value.values() for leaf in leaves(item)]
        if isinstance(value, (tuple, list)):
            return [leaf for item in value for leaf in leaves(item)]
        return []

    class TupleOutputs(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.model = inner

        def forward(self, *inputs: Any) -> tuple:
            return tuple(leaves(self.model(*inputs)))

    return TupleOutputs(model).eval()


def run_torchready(zoo_model: Any, mode: str | None = None) -> tuple[PathResult, Any]:
    """`torchready.to_coreml` in auto mode (or `mode`); returns the path result and the
    ConversionResult."""
    from torchready import to_coreml
    from torchready import ModelSpec
    from torchready.lint.types import Severity

    built = zoo_model.build()
    started = time.perf_counter()
    try:
        chosen = {"mode": mode} if mode else {}
        if isinstance(built, ModelSpec):
            result = to_coreml(built, **chosen)
        else:
            module, inputs = _unpack(built)
            result = to_coreml(module, inputs, **chosen)
    except Exception as error:  # a crash of torchready itself: reported, never hidden
        return PathResult(False, "crash", f"{type(error).__name__}: {first_line(error)}",
                          seconds=time.perf_counter() - started), None
    seconds = time.perf_counter() - started
    # A model that converted but failed the pipeline's parity stage did convert: its parity
    # verdict is the engine's (check_parity), not a conversion failure.
    if result.ok or (result.failed_stage == "parity" and result.mlmodel is not None):
        conversion = getattr(result, "conversion", None)
        fixes = list(getattr(conversion, "graph_passes_applied", []) or [])
        fixes += list(result.composite_ops_applied)
        detail = (result.capture_mode or "") + (" +" + ",".join(fixes) if fixes else "")
        return PathResult(True, seconds=seconds, detail=detail), result
    blocking = _blocking_diagnostic(result, Severity.ERROR)
    code = blocking.code if blocking is not None else None
    where = f"{blocking.path}:{blocking.line}" if blocking is not None else ""
    return PathResult(False, result.failed_stage, result.error, code, seconds, where), result


def _blocking_diagnostic(result: Any, error_severity: Any) -> Any:
    """The diagnostic that explains the failed stage: conversion failures are TR3xx, capture
    failures the capture's own findings (TR1xx/TR2xx)."""
    wanted = {"convert": ("TR3",), "capture": ("TR1", "TR2"), "parity": ("TR",)}
    prefixes = wanted.get(result.failed_stage or "", ("TR",))
    errors = [d for d in result.diagnostics
              if d.severity == error_severity and d.code.startswith(prefixes)
              and d.origin not in ("lint", "prepare")]
    for diagnostic in errors:
        if diagnostic.origin in ("convert", "coverage", "script", "parity"):
            return diagnostic
    return errors[0] if errors else None


# --- parity -------------------------------------------------------------------------------------


def psnr_db(candidate: Any, reference: Any) -> float:
    """coremltools' `compute_snr_and_psnr` (eps 1e-5 on the signal, 1e-10 on the noise)."""
    import numpy as np

    reference = np.asarray(reference, dtype=np.float64).ravel()
    candidate = np.asarray(candidate, dtype=np.float64).ravel()
    noise = float(np.mean((candidate - reference) ** 2)) if reference.size else 0.0
    peak = float(np.max(reference ** 2)) if reference.size else 0.0
    return 10.0 * math.log10((peak + 1e-5) / (noise + 1e-10))


def judge_output(candidate: Any, reference: Any) -> tuple[str, float | None, str]:
    """(verdict, psnr or None for exact comparisons, why) for one output."""
    import numpy as np

    candidate = np.asarray(candidate)
    reference = np.asarray(reference)
    if candidate.shape != reference.shape:
        return "fail", None, f"shape {list(candidate.shape)} vs {list(reference.shape)}"
    if reference.dtype.kind in "iub":
        same = bool(np.array_equal(candidate.astype(np.int64), reference.astype(np.int64)))
        return ("pass", None, "") if same else ("fail", None, "integer output differs")
    if reference.size and float(np.nanmax(np.abs(reference))) < DEGENERATE_PEAK:
        # Any program "matches" an output that is zero everywhere: that proves nothing.
        return "degenerate", None, "the eager output is zero everywhere"
    finite_ref, finite_out = np.isfinite(reference), np.isfinite(candidate)
    if not np.array_equal(finite_ref, finite_out):
        return "fail", -math.inf, "NaN/inf where eager is finite"
    mask = finite_ref
    value = psnr_db(candidate[mask], reference[mask]) if mask.any() else math.inf
    if value >= PSNR_PASS_DB:
        return "pass", value, ""
    return ("warn" if value >= PSNR_WARN_DB else "fail"), value, f"PSNR {value:.1f} dB"


def _random_like(tensor: Any, seed: int) -> Any:
    """A second input of the same kind: ids in the example's range, floats with its statistics."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    if not tensor.is_floating_point():
        low, high = int(tensor.min()), int(tensor.max())
        return torch.randint(low, high + 1, tuple(tensor.shape), generator=generator,
                             dtype=tensor.dtype)
    if float(tensor.min()) >= 0.0 and float(tensor.max()) <= 1.0:
        return torch.rand(tuple(tensor.shape), generator=generator, dtype=tensor.dtype)
    std = float(tensor.std()) if tensor.numel() > 1 else 1.0
    return torch.randn(tuple(tensor.shape), generator=generator, dtype=tensor.dtype) * std \
        + float(tensor.mean())


def _flat_outputs(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (tuple, list)) else [value]


def milrt_parity(result: Any) -> Parity:
    """Eager PyTorch (the prepared wrapper) vs the converted program in the MIL reference
    runtime, on the example and one random input."""
    import numpy as np
    import torch

    from torchready.convert.milrt import load_program
    from torchready.convert.model_state import evaluating

    started = time.perf_counter()
    prepared = result.prepared
    program = load_program(result.mlmodel)
    missing = program.unsupported_ops()
    if missing:
        kinds = ", ".join(sorted({op_type for op_type, _, _ in missing}))
        return Parity("n/a", None, time.perf_counter() - started,
                      f"the reference runtime has no kernel for {kinds}")
    cases = [("example", tuple(prepared.example_inputs), tuple(prepared.reference_outputs))]
    random_inputs = tuple(_random_like(t, seed=11 + i)
                          for i, t in enumerate(prepared.example_inputs))
    with torch.no_grad(), evaluating(prepared.original):  # to_coreml gave it back as built
        random_outputs = tuple(_flat_outputs(prepared.module(*random_inputs)))
    cases.append(("random", random_inputs, random_outputs))

    verdicts, psnrs, details = [], [], []
    for label, inputs, expected in cases:
        feeds = {}
        for plan, tensor in zip(result.inputs, inputs):
            array = tensor.detach().numpy()
            feeds[plan.name] = array.astype(np.int32) if not tensor.is_floating_point() \
                else array.astype(np.float32)
        outputs = program.run(feeds).outputs
        for name, torch_name, reference in zip(result.output_names, result.torch_output_names,
                                               expected):
            verdict, value, why = judge_output(outputs[name],
                                               reference.detach().to(torch.float64).numpy()
                                               if reference.is_floating_point()
                                               else reference.detach().numpy())
            verdicts.append(verdict)
            if value is not None:
                psnrs.append(value)
            if why:
                details.append(f"{torch_name} on the {label} input: {why}")
    order = {"pass": 0, "warn": 1, "degenerate": 2, "fail": 3}
    worst = max(verdicts, key=order.__getitem__, default="pass")
    worst_psnr = min(psnrs) if psnrs else None
    return Parity(worst, worst_psnr, time.perf_counter() - started, "; ".join(details[:2]))


def engine_parity(result: Any) -> Parity | None:
    """The parity engine's verdict (`torchready.convert.parity`), once the pipeline fills `result.parity`:
    its status, and the worst PSNR of the converted model's outputs (target "coreml")."""
    report = getattr(result, "parity", None)
    status = getattr(report, "status", None)
    if status not in ("pass", "warn", "fail"):
        return None
    psnrs = [row.psnr_db for row in getattr(report, "rows", [])
             if getattr(row, "target", "").startswith("coreml") and row.exact is None]
    detail = "" if status == "pass" else report.summary()
    return Parity(status, min(psnrs) if psnrs else None, result.timings.get("parity", 0.0),
                  detail, source="engine")


def check_parity(result: Any) -> Parity:
    judged = engine_parity(result)
    if judged is not None:
        return judged
    try:
        return milrt_parity(result)
    except Exception as error:  # the reference run failed: say so, count it as not proven
        return Parity("fail", None, 0.0, f"reference run failed: {type(error).__name__}: "
                      f"{first_line(error)}")


# --- the zoo ------------------------------------------------------------------------------------


def run_model(zoo_model: Any, export: bool = True) -> ZooRow:
    vanilla = run_vanilla(zoo_model)
    unwrapped = run_vanilla(zoo_model, unwrap_outputs=True) if not vanilla.ok else vanilla
    torchready, result = run_torchready(zoo_model)
    row = ZooRow(zoo_model.name, zoo_model.family, vanilla, unwrapped, torchready)
    if torchready.ok:
        row.parity = check_parity(result)
    if export:
        row.export, exported = run_torchready(zoo_model, mode="export")
        if row.export.ok:
            row.export_parity = check_parity(exported)
    return row


def run_zoo(models: list[Any], progress: Any = None, export: bool = True) -> list[ZooRow]:
    from torchready.convert.coreml.quiet import routed

    rows = []
    with routed():  # coremltools' chatter is recorded, as in the pipeline
        for zoo_model in models:
            row = run_model(zoo_model, export)
            rows.append(row)
            if progress is not None:
                progress(row)
    return rows


def unwrapped_line(rows: list[ZooRow]) -> str:
    converted = sum(row.unwrapped.ok for row in rows)
    return f"by hand with outputs unwrapped: {converted}/{len(rows)}"


def summary_line(rows: list[ZooRow]) -> str:
    total = len(rows)
    vanilla = sum(row.vanilla.ok for row in rows)
    torchready = sum(row.torchready.ok for row in rows)
    parity = sum(row.parity_ok for row in rows)
    line = f"vanilla={vanilla}/{total} torchready={torchready}/{total} parity={parity}/{total}"
    if any(row.export is not None for row in rows):
        line += f" export={sum(row.export_ok for row in rows)}/{total}"
    return line


# --- output -------------------------------------------------------------------------------------


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def vanilla_cell(result: PathResult, width: int = 70) -> str:
    if result.ok:
        return "ok"
    return _clip(f"{result.stage}: {result.error}", width)


def torchready_cell(result: PathResult, width: int = 70) -> str:
    if result.ok:
        return f"ok ({result.detail})" if result.detail else "ok"
    code = f" {result.code}" if result.code else ""
    return _clip(f"{result.stage}{code}: {result.error}", width)


def parity_cell(parity: Parity) -> str:
    if parity.verdict == "n/a":
        return "n/a"
    if parity.worst_psnr is None:  # integer outputs only (token ids): compared exactly
        return f"{parity.verdict} (exact)" if parity.verdict == "pass" else parity.verdict
    psnr = "inf" if math.isinf(parity.worst_psnr) else f"{parity.worst_psnr:.1f}"
    return f"{parity.verdict} {psnr} dB"


HEADER = ("model", "family", "vanilla (trace + ct.convert)", "by hand, outputs unwrapped",
          "torchready", "parity (worst PSNR)", "vanilla s", "torchready s")
EXPORT_HEADER = ("export (torch.export)", "export s")


def export_cell(row: ZooRow, width: int = 70) -> str:
    """`--mode export`: "ok (+alias), pass 52.1 dB", or where and why it failed."""
    if row.export is None:
        return "-"
    if row.export.ok:  # detail: "export" plus the converters torchready added
        fixes = row.export.detail.removeprefix("export").strip()
        return f"ok{f' ({fixes})' if fixes else ''}, {parity_cell(row.export_parity)}"
    return torchready_cell(row.export, width)


def header(rows: list[ZooRow]) -> tuple[str, ...]:
    return HEADER + (EXPORT_HEADER if any(row.export is not None for row in rows) else ())


def row_cells(row: ZooRow, width: int) -> tuple[str, ...]:
    unwrapped = "(same)" if row.unwrapped is row.vanilla else vanilla_cell(row.unwrapped, width)
    cells = (row.name, row.family, vanilla_cell(row.vanilla, width), unwrapped,
             torchready_cell(row.torchready, width),
             parity_cell(row.parity) if row.torchready.ok else "-",
             f"{row.vanilla.seconds:.1f}", f"{row.torchready.seconds + row.parity.seconds:.1f}")
    if row.export is not None:
        cells += (export_cell(row, width),
                  f"{row.export.seconds + row.export_parity.seconds:.1f}")
    return cells


def markdown(rows: list[ZooRow]) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    columns = header(rows)
    lines = ["| " + " | ".join(columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(escape(cell) for cell in row_cells(row, 90)) + " |")
    lines.append("")
    lines.append(f"{unwrapped_line(rows)}")
    lines.append("")
    lines.append(f"`{summary_line(rows)}`")
    return "\n".join(lines)


def text_table(rows: list[ZooRow]) -> str:
    columns = header(rows)
    cells = [columns] + [row_cells(row, 60) for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(r, widths)).rstrip()
             for r in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def failures(rows: list[ZooRow]) -> list[str]:
    """One line per torchready failure or parity failure, with where and why."""
    lines = []
    for row in rows:
        if not row.torchready.ok:
            where = f" at {row.torchready.detail}" if row.torchready.detail else ""
            lines.append(f"{row.name}: {row.torchready.stage} failed "
                         f"({row.torchready.code or 'no code'}){where}: {row.torchready.error}")
        elif not row.parity_ok:
            lines.append(f"{row.name}: parity {row.parity.verdict}: {row.parity.detail}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the CI subset")
    parser.add_argument("--markdown", action="store_true", help="print the README table only")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these models only")
    parser.add_argument("--json", metavar="PATH", help="also write every row as JSON")
    parser.add_argument("--no-export", action="store_true",
                        help="skip the torch.export column (--mode export)")
    args = parser.parse_args(argv)

    from zoo_models import MODELS

    models = [m for m in MODELS if (not args.quick or m.quick)
              and (not args.only or m.name in args.only)]
    if args.only:
        unknown = sorted(set(args.only) - {m.name for m in MODELS})
        if unknown:
            parser.error(f"unknown model(s): {', '.join(unknown)}")
    started = time.perf_counter()

    def progress(row: ZooRow) -> None:
        if not args.markdown:
            print(f"[{row.name}] vanilla: {vanilla_cell(row.vanilla, 200)} | unwrapped: "
                  f"{vanilla_cell(row.unwrapped, 200)} | torchready: "
                  f"{torchready_cell(row.torchready, 200)} | parity: {parity_cell(row.parity)}"
                  f" | export: {export_cell(row, 200)}",
                  file=sys.stderr, flush=True)

    rows = run_zoo(models, progress, export=not args.no_export)
    elapsed = time.perf_counter() - started
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(row) for row in rows], indent=2,
                                              default=str))
    if args.markdown:
        print(markdown(rows))
        return 0
    print(text_table(rows))
    problems = failures(rows)
    if problems:
        print("\nnot converted with parity:")
        for line in problems:
            print(f"  {line}")
    exported = [f"  {row.name}: {export_cell(row, 300)}" for row in rows
                if row.export is not None and not row.export_ok]
    if exported:
        print("\nnot converted with parity through torch.export (--mode export):")
        print("\n".join(exported))
    print(f"\n{len(rows)} models in {elapsed:.0f} s; {unwrapped_line(rows)}")
    print(summary_line(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
