"""The parity engine: eager PyTorch against (a) the TorchScript module and (b) the converted model.

    report = check_parity(prepared, captured_module, mlmodel, coreml_output_names=[...],
                          precision="fp16", sourcemap=..., graph=..., reconvert=...)

For every parity input (the example, then random inputs: `feeds`), the prepared wrapper runs
eagerly (the reference), the TorchScript module runs on the same tensors, and the converted
model runs on the same values as Core ML receives them: on torchready's MIL reference runtime
everywhere, and on Apple's runtime too where it exists (`device`). Each output of each target is
measured (`metrics`) and judged (`thresholds`: fp32 allclose for the TorchScript module and fp32
programs, an element-wise tolerance scaled to fp16's precision and PSNR for fp16 programs).

When the converted model fails, `localise` finds the first MIL op that diverges on the first
failing input, and with an fp16 program `reconvert("fp32")` (supplied by the caller, which knows
how to convert) tells an fp16 effect from a conversion error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torchready.convert.parity.feeds import (CasePlan, InputInfo, ParityCase, build_cases,
                                             describe_inputs)
from torchready.convert.parity.histogram import ErrorHistogram
from torchready.convert.parity.metrics import compare_arrays
from torchready.convert.parity.report import (DEVICE, REFERENCE, TORCHSCRIPT, Comparison,
                                             UNRUN, ParityReport, Recheck, mark_unrun,
                                             outlier_notes, summarise)
from torchready.convert.parity.fp16_range import RangeCount
from torchready.convert.parity.thresholds import FAIL, PASS, WARN, Thresholds, judge, worst

# reconvert(precision) -> (mlmodel, sourcemap, torchscript graph coremltools converted)
Reconvert = Callable[[str], tuple[Any, Any, Any]]


@dataclass
class ParityOptions:
    random_inputs: int = 3  # random inputs besides the example
    seed: int = 0
    # Threshold overrides for the converted model (Thresholds field -> value), e.g.
    # {"psnr_pass_db": 45} or {"atol": 1e-3}.
    thresholds: dict[str, Any] = field(default_factory=dict)
    torchscript_thresholds: dict[str, Any] = field(default_factory=dict)
    localise: bool = True  # find the first diverging MIL op when the converted model fails
    recheck_fp32: bool = True  # convert again at fp32 when an fp16 model fails
    device: bool | None = None  # Apple's runtime as well: None = wherever it is available
    value_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    # Image inputs declared with the user's own ct.ImageType: {name: (scale, bias)}.
    images: dict[str, tuple[float, tuple]] = field(default_factory=dict)


def check_parity(prepared: Any, captured_module: Any, mlmodel: Any, *,
                 coreml_output_names: Sequence[str], precision: str = "fp16",
                 labels: Sequence[str] | None = None, sourcemap: Mapping[str, Any] | None = None,
                 graph: Any = None, reconvert: Reconvert | None = None,
                 options: ParityOptions | None = None) -> ParityReport:
    """Compare eager PyTorch with the TorchScript module and the converted model."""
    from torchready.convert.milrt import load_program
    from torchready.convert.parity.class_axis import class_axes

    options = options or ParityOptions()
    started = time.perf_counter()
    thresholds = Thresholds.for_precision(precision, **options.thresholds)
    ts_thresholds = Thresholds.for_precision("fp32", **options.torchscript_thresholds)
    report = ParityReport(precision=thresholds.precision, thresholds=thresholds,
                          torchscript_thresholds=ts_thresholds)
    program = load_program(mlmodel)
    missing = program.unsupported_ops()
    report.targets = [TORCHSCRIPT, REFERENCE]
    use_device, device_check_error = (options.device, None) if options.device is not None \
        else _device_available()
    if use_device or device_check_error:
        report.targets.append(DEVICE)

    infos, plan = parity_cases(prepared, program, options)
    report.notes.extend(plan.notes)
    report.rejected_inputs = len(plan.rejected)
    if plan.other_size_checked is False:
        report.errors.append(
            "none of the other input sizes the model declares could be checked: the eager "
            f"model rejects every one tried ({'; '.join(plan.rejected)}), while the converted "
            "model accepts them; narrow the declared range (or enumerated shapes)")
    report.inputs = list(infos)
    report.cases = [(case.label, case.shapes()) for case in plan.cases]
    names = list(prepared.output_names)
    axes = class_axes(names, prepared.reference_outputs, labels=labels,
                      image_inputs=[t for t, i in zip(prepared.example_inputs, infos)
                                    if i.kind == "image"])
    if missing:
        op_type, op_name, block = missing[0]
        report.errors.append(f"the converted model cannot run on the reference runtime: op "
                             f"{op_type} ({op_name} in {block}) is not supported")
    timings = report.timings
    ranges = {name: RangeCount() for name in names}
    could_not_run: dict[str, list[tuple[str, str]]] = {}  # target -> [(case, error)]
    for case in plan.cases:
        reference, error = _timed(timings, "eager", _eager, prepared, case.torch_inputs)
        if error is not None:
            report.errors.append(f"the eager model fails on {case.label}: {error}")
            continue
        for name, value in zip(names, reference):
            ranges[name].add(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
        targets: dict[str, tuple[list | None, str | None]] = {
            TORCHSCRIPT: _timed(timings, TORCHSCRIPT, _torch_outputs, captured_module,
                                case.torch_inputs)}
        if not missing:
            targets[REFERENCE] = _timed(timings, REFERENCE, _reference_outputs, program,
                                        case, coreml_output_names)
        if use_device:
            targets[DEVICE] = _timed(timings, DEVICE, _device_outputs, mlmodel, case,
                                     coreml_output_names)
        for target, (outputs, failure) in targets.items():
            if failure is not None:
                could_not_run.setdefault(target, []).append((case.label, failure))
                continue
            rule = ts_thresholds if target == TORCHSCRIPT else thresholds
            report.comparisons.extend(_compare(target, case.label, names, reference, outputs,
                                               rule, axes))
    report.rows = summarise(report.comparisons, report.targets, names)
    for target, failures in could_not_run.items():
        mark_unrun(report.rows, target, names, FAIL,
                   f"{UNRUN} on {', '.join(case for case, _ in failures)}: {failures[0][1]}")
    if device_check_error:
        mark_unrun(report.rows, DEVICE, names, WARN,
                   f"not checked: Apple's Core ML runtime could not be checked "
                   f"({device_check_error})")
    report.notes.extend(outlier_notes(report.comparisons))
    if report.status == FAIL:
        _explain(report, prepared, captured_module, program, plan.cases, sourcemap, graph,
                 reconvert, options, coreml_output_names, axes)
    if report.precision == "fp16" and report.status != PASS:
        report.fp16_range = [count.sentence(f"output '{name}'")
                             for name, count in ranges.items() if count.outside]
        found = getattr(report.divergence, "fp16_range", "")
        if found:
            report.fp16_range.append(found)
    report.timings["total"] = time.perf_counter() - started
    return report


def parity_cases(prepared: Any, program: Any, options: ParityOptions
                 ) -> tuple[list[InputInfo], CasePlan]:
    """How each input is fed, and the inputs parity runs on (the example, then random ones the
    eager model accepts), for a milrt `program` of the converted model."""
    infos = describe_inputs(prepared, {n: s.mil_dtype for n, s in program.input_specs.items()},
                            options.value_ranges, options.images)
    plan = build_cases(prepared, infos, options.random_inputs, options.seed,
                       accepts=lambda tensors: _eager(prepared, tensors)[1])
    return infos, plan


def _explain(report: ParityReport, prepared: Any, captured_module: Any, program: Any,
             cases: list[ParityCase], sourcemap: Any, graph: Any, reconvert: Reconvert | None,
             options: ParityOptions, output_names: Sequence[str], axes: dict) -> None:
    """Why the failure: TorchScript already differs (capture), or where the converted program
    leaves PyTorch (localise) and whether fp32 fixes it (recheck)."""
    failing = {c.case for c in report.comparisons if c.target != TORCHSCRIPT
               and c.status == FAIL}
    if any(r.status == FAIL for r in report.rows if r.target == TORCHSCRIPT):
        report.cause = "capture"
        report.localisation_note = ("the TorchScript module already differs from eager "
                                    "PyTorch: the capture, not the conversion, changed the model "
                                    "(see the capture and shape-probe diagnostics)")
    case = next((c for c in cases if c.label in failing), None)
    if case is None:
        return
    started = time.perf_counter()
    if options.localise and graph is not None and report.cause != "capture":
        report.divergence, report.localisation_note = _localise(
            program, sourcemap, graph, captured_module, case, report.thresholds,
            report.precision)
    if report.precision == "fp16" and options.recheck_fp32 and reconvert is not None \
            and report.cause != "capture":
        report.recheck = _recheck(prepared, captured_module, cases, reconvert, options,
                                  output_names, axes, case)
        report.cause = "fp16" if report.recheck.status != FAIL else "conversion"
    elif report.cause != "capture":
        report.cause = "conversion" if report.precision == "fp32" else ""
    report.timings["localise"] = time.perf_counter() - started


def _localise(program: Any, sourcemap: Any, graph: Any, captured_module: Any, case: ParityCase,
              thresholds: Thresholds, precision: str) -> tuple[Any, str]:
    from torchready.convert.parity.fx_values import FxGraphValues, is_exported_program
    from torchready.convert.parity.localise import localise
    from torchready.convert.parity.torch_values import GraphValues

    try:
        # graph: the TorchScript graph coremltools converted, or the ExportedProgram (export).
        values = FxGraphValues(graph) if is_exported_program(graph) else GraphValues(graph)
        found = localise(program, sourcemap, values, captured_module, case,
                         thresholds, precision)
    except Exception as error:  # localisation is an explanation; never lose the verdict to it
        return None, f"could not localise the divergence: {type(error).__name__}: {error}"
    return found.divergence, found.note


def _recheck(prepared: Any, captured_module: Any, cases: list[ParityCase], reconvert: Reconvert,
             options: ParityOptions, output_names: Sequence[str], axes: dict,
             failing_case: ParityCase) -> Recheck:
    from torchready.convert.milrt import load_program

    try:
        mlmodel, sourcemap, graph = reconvert("fp32")
        program = load_program(mlmodel)
    except Exception as error:
        return Recheck(FAIL, error=f"{type(error).__name__}: {error}")
    rule = Thresholds.for_precision("fp32", **{k: v for k, v in options.thresholds.items()
                                               if k in ("atol", "rtol")})
    comparisons = []
    names = list(prepared.output_names)
    for case in cases:
        reference, error = _eager(prepared, case.torch_inputs)
        outputs, failure = _reference_outputs(program, case, output_names)
        if error is not None or failure is not None:
            return Recheck(FAIL, error=error or failure)
        comparisons.extend(_compare(REFERENCE, case.label, names, reference, outputs, rule, axes))
    rows = summarise(comparisons, [REFERENCE], names)
    status = worst(row.status for row in rows)
    recheck = Recheck(status, rows)
    if status == FAIL and options.localise and graph is not None:
        recheck.divergence, _ = _localise(program, sourcemap, graph, captured_module,
                                          failing_case, rule, "fp32")
    return recheck


def _compare(target: str, case: str, names: Sequence[str], reference: Sequence[Any],
             outputs: Sequence[Any], rule: Thresholds, axes: Mapping[str, int | None]
             ) -> list[Comparison]:
    import numpy as np

    comparisons = []
    for name, want, got in zip(names, reference, outputs):
        want = want.detach().cpu().numpy() if hasattr(want, "detach") else np.asarray(want)
        got = got.detach().cpu().numpy() if hasattr(got, "detach") else np.asarray(got)
        metrics = compare_arrays(want, got, class_axis=axes.get(name))
        checks = tuple(judge(metrics, rule, want, got))
        comparisons.append(Comparison(target, case, name, metrics, checks,
                                      ErrorHistogram.of(want, got)))
    return comparisons


def _eager(prepared: Any, inputs: tuple) -> tuple[list | None, str | None]:
    return _torch_outputs(prepared.module, inputs)


def _torch_outputs(module: Any, inputs: tuple) -> tuple[list | None, str | None]:
    from torchready.convert.capture.probes import run

    output, error = run(module, inputs)
    if error is not None:
        return None, error
    return list(output) if isinstance(output, (tuple, list)) else [output], None


def _reference_outputs(program: Any, case: ParityCase, output_names: Sequence[str]
                       ) -> tuple[list | None, str | None]:
    try:
        outputs = program.run(case.coreml_feeds).outputs
    except Exception as error:  # a runtime error names the op; keep it as the failure
        from torchready.convert.coreml.errors import first_line

        return None, f"{type(error).__name__}: {first_line(error)}"
    return [outputs[name] for name in output_names], None


def _device_outputs(mlmodel: Any, case: ParityCase, output_names: Sequence[str]
                    ) -> tuple[list | None, str | None]:
    from torchready.convert.parity.device import device_outputs

    try:
        return device_outputs(mlmodel, case.coreml_feeds, output_names), None
    except Exception as error:
        return None, f"{type(error).__name__}: {error}"


def _device_available() -> tuple[bool, str | None]:
    """(Apple's runtime is there, why the check itself failed)."""
    from torchready.convert.parity.device import available

    try:
        return available(), None
    except Exception as error:  # a broken install must not cost the verdict: the row says it
        return False, f"{type(error).__name__}: {error}"


def _timed(timings: dict[str, float], key: str, function: Callable, *args: Any) -> Any:
    started = time.perf_counter()
    try:
        return function(*args)
    finally:
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - started
