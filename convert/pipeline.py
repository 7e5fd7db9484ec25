"""The conversion pipeline, one stage after another.

    load -> lint -> prepare -> capture -> probe -> coverage -> convert -> metadata -> parity
         -> precision -> save

capture..parity is one attempt (`_attempt`); auto mode runs another attempt with the next capture
path (`capture.auto.fallback_modes`: export, then hybrid or a plain trace) when its first choice
fails to convert with parity, unless the failure is one no capture path changes, and says which
path it kept and why (`capture_reason`, `capture_attempts`).

Each stage is a function of its own module with a small result; this file only calls them in
order, times them, shows progress and collects everything in a `ConversionResult`. A stage that
fails records `failed_stage` and the pipeline stops there (the diagnostics say why). User mistakes
(a spec that cannot load, a declaration that cannot work) raise `UsageError` (exit code 2).

`torchready convert` runs every stage and saves; `torchready audit` runs the same stages in memory
(no `output`); the Python API `torchready.convert.api.to_coreml` starts from a ModelSpec (no load stage).
`probe` (shape probing) and `parity` are `torchready.convert.parity`'s: a failed parity stops before `save`,
so a model that computes something else than PyTorch is never written (`--no-parity` skips it).
`precision` is `torchready.convert.precision`'s: with `--precision auto` it keeps in fp32 the ops
an fp16 parity failure needs there (the result then holds that model), and after an fp16 failure
it names the ops auto would keep.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchready.convert.progress import StageProgress
from torchready.convert.spec import ModelSpec
from torchready.lint.types import Diagnostic, Severity, UsageError

# torch.jit's tracer, warnings.catch_warnings and coremltools keep process-wide state: one
# conversion runs at a time (re-entrant, so a model's factory may call torchready itself).
_ONE_CALL_AT_A_TIME = threading.RLock()

STAGES = ("load", "lint", "prepare", "capture", "probe", "coverage", "convert", "metadata",
          "parity", "precision", "save")


@dataclass
class PipelineOptions:
    output: Path | None = None  # where to save the .mlpackage; None: nothing is written (audit)
    mode: str | None = None  # overrides the spec's capture mode
    lint: bool = True  # run the static rules on the model's source files
    fix: bool = False  # apply safe lint fixes to those files before capture (CLI only)
    labels: list[str] | None = None  # overrides the spec's class labels
    imagenet: bool | None = None  # overrides the spec's ImageNet preset
    compute_precision: str | None = None  # overrides the spec ("fp16" | "fp32" | "auto")
    minimum_deployment_target: str | None = None  # overrides the spec ("iOS16", ...)
    parity: bool = True  # eager vs TorchScript vs the converted model (torchready.convert.parity)
    shape_probing: bool = True  # other sizes along each input dimension after capture
    parity_options: Any = None  # torchready.convert.parity.engine.ParityOptions (None: defaults)
    # torchready.convert.precision.search.PrecisionOptions: the bounds of --precision auto
    precision_options: Any = None
    progress: StageProgress = field(default_factory=lambda: StageProgress(enabled=False))


@dataclass
class ConversionResult:
    """Everything a conversion produced; `ok` when a Core ML model exists."""

    spec: ModelSpec | None = None
    mlmodel: Any = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    failed_stage: str | None = None
    error: str | None = None  # one line: why the failed stage failed
    capture_mode: str | None = None
    capture_reason: str | None = None
    # every capture path tried, in order ({"mode", "failed_stage", "error", "outcome",
    # "diagnostics"}); more than one only in auto mode, when its first choice failed
    capture_attempts: list[dict[str, Any]] = field(default_factory=list)
    composite_ops_applied: list[str] = field(default_factory=list)
    coverage: Any = None  # torchready.convert.coverage report
    inputs: list[Any] = field(default_factory=list)  # torchready.convert.coreml.inputs.InputPlan
    output_names: list[str] = field(default_factory=list)  # Core ML output names
    torch_output_names: list[str] = field(default_factory=list)
    sourcemap: dict[str, Any] | None = None  # see torchready.convert.sidecar
    package_path: Path | None = None
    sourcemap_path: Path | None = None
    metadata: dict[str, str] = field(default_factory=dict)  # user-defined keys written
    notes: list[str] = field(default_factory=list)  # facts worth telling, not problems
    lint_fixes: dict[str, str] = field(default_factory=dict)  # path -> unified diff applied
    parity: Any = None  # torchready.convert.parity.report.ParityReport (None: not run)
    shape_probes: Any = None  # torchready.convert.parity.shape_probing.ShapeProbeReport (None: not run)
    # torchready.convert.precision.report.PrecisionReport: what --precision auto kept in fp32
    # (or, after an fp16 parity failure, what it would keep); None: not applicable
    precision: Any = None
    prepared: Any = None
    captured: Any = None
    conversion: Any = None  # torchready.convert.coreml.conversion.Conversion

    @property
    def ok(self) -> bool:
        return self.failed_stage is None and self.mlmodel is not None

    def has_errors(self) -> bool:
        return any(d.severity == Severity.ERROR for d in self.diagnostics)


class _Stages:
    """Times each stage into the result and drives the progress display."""

    def __init__(self, result: ConversionResult, progress: StageProgress) -> None:
        self.result = result
        self.progress = progress

    def run(self, name: str, description: str):
        import contextlib

        @contextlib.contextmanager
        def timed():
            started = time.perf_counter()
            try:
                with self.progress.stage(name, description) as handle:
                    yield handle
            finally:
                # A stage can run twice (load again after --fix rewrote the model's files).
                elapsed = time.perf_counter() - started
                self.result.timings[name] = self.result.timings.get(name, 0.0) + elapsed

        return timed()


def convert_model(spec_text: str, options: PipelineOptions,
                  input_decls: Sequence[Any] = ()) -> ConversionResult:
    """The command-line entry: MODEL spec text -> loaded spec -> `run`."""
    from torchready.convert.coreml.quiet import routed

    # The model's own file may import coremltools: its chatter is recorded from the start.
    with routed():
        return _convert_model(spec_text, options, input_decls)


def _convert_model(spec_text: str, options: PipelineOptions,
                   input_decls: Sequence[Any]) -> ConversionResult:
    from torchready.convert.loading import load_model

    result = ConversionResult()
    stages = _Stages(result, options.progress)
    with stages.run("load", f"loading {spec_text}"):
        spec = load_model(spec_text, list(input_decls) or None)
    if options.lint and options.fix:
        with stages.run("lint", "applying safe lint fixes") as stage:
            changed = _lint(result, spec, fix=True, mode=options.mode)
            stage.detail = f"{len(result.lint_fixes)} file(s) fixed" if changed else "no fixes"
        if changed:
            # The model was imported before its files were fixed: import it again, fixed.
            _forget_modules(result.lint_fixes)
            with stages.run("load", f"reloading {spec_text} after fixes"):
                spec = load_model(spec_text, list(input_decls) or None)
    return run(spec, options, result=result, linted=options.fix)


def run(spec: ModelSpec, options: PipelineOptions | None = None, *,
        result: ConversionResult | None = None, linted: bool = False) -> ConversionResult:
    """Run the stages after loading on `spec` (the Python API starts here).

    What the call changes in the process lives exactly as long as the call (`process_state`):
    coremltools' logger routed into torchready, torchready's converters in coremltools' op
    registry; and the user's model gets its training flags and requires_grad back
    (`model_state`), also when a stage raises. Calls from several threads run one at a time.
    """
    from torchready.convert.composite_ops import installed
    from torchready.convert.coreml.quiet import routed
    from torchready.convert.model_state import preserved

    with _ONE_CALL_AT_A_TIME, routed(), installed(), preserved(spec.module):
        return _run(spec, options or PipelineOptions(), result, linted)


def _run(spec: ModelSpec, options: PipelineOptions, result: ConversionResult | None,
         linted: bool) -> ConversionResult:
    result = result or ConversionResult()
    spec = _with_overrides(spec, options)
    if spec.compute_precision == "auto" and not options.parity:
        raise UsageError("--precision auto decides from parity which ops need fp32; it cannot "
                         "run with --no-parity.")
    result.spec = spec
    stages = _Stages(result, options.progress)

    if options.lint and not linted:
        with stages.run("lint", "checking the model's source"):
            _lint(result, spec, fix=False)

    with stages.run("prepare", "eval mode, output flattening, input checks"):
        prepared = _prepare(spec)
    result.prepared = prepared
    result.diagnostics.extend(prepared.diagnostics)
    result.notes.extend(prepared.notes)

    _capture_until_parity(result, spec, prepared, options)
    if result.failed_stage is not None:
        return result

    if options.output is not None and result.failed_stage is None:
        with stages.run("save", f"saving {options.output}"):
            _save(result, Path(options.output))
    result.diagnostics = _sorted(result.diagnostics)
    return result


# --- capture .. parity, and auto mode's fallbacks --------------------------------------------

def _capture_until_parity(result: ConversionResult, spec: ModelSpec, prepared: Any,
                          options: PipelineOptions) -> None:
    """capture -> probe -> coverage -> convert -> metadata -> parity, once for a requested mode;
    in auto mode again with the next candidate (`capture.auto.fallback_modes`) while a candidate
    fails, keeping the first that converts with parity (or, when none does, the first choice)
    and saying why in `capture_reason` and `capture_attempts`."""
    import dataclasses

    from torchready.convert.capture import auto

    requested = spec.mode or "auto"
    queue: list[str] = [requested]
    attempts: list[ConversionResult] = []
    failed_trace: list[ConversionResult] = []  # auto's trace, when it could not even capture
    stopped = None
    first_capture = None
    while queue:
        mode = queue.pop(0)
        attempt = dataclasses.replace(result, diagnostics=list(result.diagnostics),
                                      notes=list(result.notes), timings=result.timings)
        reused = auto.trace_fallback(first_capture) if mode == "trace" and first_capture \
            else None
        _attempt(attempt, spec, prepared, mode, options, _Stages(attempt, options.progress),
                 captured=reused)
        if mode != requested and reused is None:  # a fallback's own reason is not why it ran
            attempt.capture_reason = None
        attempts.append(attempt)
        if mode == "auto":
            first_capture = attempt.captured
            trace = first_capture.alternatives.get("trace") if first_capture else None
            if trace is not None and not trace.ok:  # tried first, failed at capture
                failed_trace.append(_failed(dataclasses.replace(
                    result, capture_mode="trace", diagnostics=list(trace.diagnostics)),
                    "capture", trace.error))
        if requested != "auto" or attempt.failed_stage is None:
            break
        stopped = auto.stops_the_search(attempt)
        if stopped:
            break
        if mode == "auto":  # the first choice's own fallbacks (a failed trace is not retried)
            queue = [m for m in auto.fallback_modes(first_capture)
                     if not (m == "trace" and failed_trace)]
    chosen = next((a for a in attempts if a.failed_stage is None), attempts[0])
    for name in (f.name for f in dataclasses.fields(ConversionResult)):
        setattr(result, name, getattr(chosen, name))
    result.capture_attempts = [_attempt_summary(a, options) for a in failed_trace + attempts]
    if requested == "auto":
        _explain_auto(result, chosen, failed_trace + attempts, stopped)


def _explain_auto(result: ConversionResult, chosen: ConversionResult,
                  attempts: list[ConversionResult], stopped: str | None) -> None:
    from torchready.convert.capture import auto

    steps = "; ".join(entry["outcome"] for entry in result.capture_attempts)
    result.capture_reason = f"auto: {steps}" + (
        f". {chosen.capture_reason}" if chosen.capture_reason else "")
    if chosen.capture_mode == "trace" and chosen.failed_stage is None:
        # The capture's reason named what its TracerWarnings showed; probing came after.
        probed = auto.frozen_branches([], chosen.shape_probes)
        if probed:
            result.capture_reason += f". Shape probing: the trace froze {probed}"
    if stopped:
        result.capture_reason += f". Stopped there: {stopped}"
    if len(attempts) > 1:
        result.notes.append(f"auto mode tried {len(attempts)} capture paths: {steps}")
    failed = [d for a in attempts if a is not chosen for d in a.diagnostics]
    result.diagnostics = _sorted(result.diagnostics + auto.carried_findings(
        failed, result.diagnostics, chosen.capture_mode or ""))


def _attempt_summary(attempt: ConversionResult, options: PipelineOptions) -> dict[str, Any]:
    mode = attempt.capture_mode or "?"
    if attempt.failed_stage is None:
        outcome = f"{mode}: converted with parity" if options.parity and attempt.parity \
            is not None else f"{mode}: converted (parity not checked)"
    else:
        error = (attempt.error or "").strip().splitlines()[0] if attempt.error else ""
        if len(error) > 160:
            error = error[:157] + "..."
        outcome = f"{mode} failed at {attempt.failed_stage}" + (f" ({error})" if error else "")
    # The attempt's own findings stay here: a fallback that converted replaces them on the
    # result, but why the first choice failed is still worth reading.
    return {"mode": mode, "failed_stage": attempt.failed_stage, "error": attempt.error,
            "outcome": outcome, "diagnostics": attempt.diagnostics}


def _attempt(result: ConversionResult, spec: ModelSpec, prepared: Any, mode: str,
             options: PipelineOptions, stages: _Stages, captured: Any = None
             ) -> ConversionResult:
    """One capture path from capture to parity (from `captured` when auto mode already made
    it); a failure is recorded with `_failed`."""
    from torchready.convert.coreml.mil_records import settled_by_folding

    with stages.run("capture", f"capturing the model ({mode})") as stage:
        if captured is None:
            captured = _capture(prepared, mode, spec.traced_submodules)
        result.captured = captured
        result.diagnostics.extend(captured.diagnostics)
        result.notes.extend(captured.notes)
        result.capture_mode = captured.mode
        result.capture_reason = captured.reason
        if not captured.ok:
            stage.fail(f"capture failed: {captured.error}")
    if not captured.ok:
        return _failed(result, "capture", captured.error or "torch.jit could not capture the model")

    if options.shape_probing:
        with stages.run("probe", "probing input dimensions at other sizes") as stage:
            result.shape_probes = _shape_probing(result)
            specialized = result.shape_probes.specialized
            stage.detail = (f"{len(specialized)} dimension(s) specialized by the trace"
                            if specialized else
                            f"{len(result.shape_probes.dimensions)} dimension(s) probed")

    with stages.run("coverage", "checking coremltools' op coverage"):
        result.coverage = _coverage(captured, prepared)
    result.diagnostics.extend(getattr(result.coverage, "diagnostics", []) or [])

    with stages.run("convert", "ct.convert to an ML program") as stage:
        conversion = _convert(spec, prepared, captured, options.progress)
        if not conversion.ok:
            stage.fail(f"ct.convert failed: {conversion.error}")
    result.conversion = conversion
    result.inputs = conversion.inputs
    result.output_names = conversion.output_names
    result.torch_output_names = conversion.torch_output_names
    result.composite_ops_applied = conversion.composite_ops_applied
    result.notes.extend(conversion.notes)
    result.notes.extend(_untested_versions())
    result.diagnostics.extend(_without_repeats(conversion.diagnostics, result.diagnostics))
    result.diagnostics = settled_by_folding(result.diagnostics, conversion.folded_at)
    if not conversion.ok:
        stopped_at = [d.details.get("op") for d in conversion.diagnostics if d.code == "TR301"]
        if stopped_at:  # name every op without a converter, not just the first one it hit
            missing = set(getattr(result.coverage, "unsupported", None) or []) | set(stopped_at)
            return _failed(result, "convert", "coremltools has no converter for "
                           + ", ".join(sorted(str(op) for op in missing)))
        return _failed(result, "convert", conversion.error)
    result.mlmodel = conversion.mlmodel

    with stages.run("metadata", "metadata, Xcode preview, source map"):
        _metadata(result, spec, prepared)
        result.sourcemap = _sourcemap(result, prepared)

    if options.parity:
        with stages.run("parity", f"eager vs {captured.mode} vs the converted model") as stage:
            result.parity = _parity(result, options.parity_options)
            if not result.parity.passed:
                stage.fail(result.parity.summary())
            else:
                stage.detail = result.parity.summary()
        if _wants_precision_step(spec, result.parity):
            with stages.run("precision", "keeping in fp32 only the ops fp16 cannot hold") \
                    as stage:
                _precision(result, spec, prepared, options)
                if result.precision is not None:
                    stage.detail = result.precision.headline()
        if not result.parity.passed:
            return _failed(result, "parity", result.parity.summary())
    return result


# --- stages -------------------------------------------------------------------------------------


def _with_overrides(spec: ModelSpec, options: PipelineOptions) -> ModelSpec:
    """A copy of the spec with the command line's choices on top (the user's object is kept)."""
    import dataclasses

    changes: dict[str, Any] = {}
    if options.mode is not None:
        changes["mode"] = options.mode
    if options.labels is not None:
        changes["class_labels"] = list(options.labels)
    if options.imagenet is not None:
        changes["imagenet"] = options.imagenet
    if options.compute_precision is not None:
        changes["compute_precision"] = options.compute_precision
    if options.minimum_deployment_target is not None:
        changes["minimum_deployment_target"] = options.minimum_deployment_target
    return dataclasses.replace(spec, **changes) if changes else spec


def model_source_files(spec: ModelSpec) -> list[str]:
    """The user's files behind the model: where its classes live, and the factory's file."""
    from torchready.convert.python_source import source_file_of
    from torchready.convert.source_lines import is_user_file

    files: list[str] = []
    candidates = [spec.origin[0]] if spec.origin else []
    candidates += [source_file_of(type(module)) for module in spec.module.modules()]
    for path in candidates:
        if path and is_user_file(path) and Path(path).is_file():
            resolved = str(Path(path).resolve())
            if resolved not in files:
                files.append(resolved)
    return files


def _lint(result: ConversionResult, spec: ModelSpec, *, fix: bool,
          mode: str | None = None) -> bool:
    """Static rules on the model's files, for the capture this conversion makes; with `fix`,
    apply safe fixes. True if files changed."""
    try:
        from torchready.lint.api import lint_paths
        from torchready.lint.targets import MODES
    except ImportError:  # the static half is optional for the pipeline
        result.notes.append("lint stage skipped: torchready.lint.api is not available")
        return False
    files = model_source_files(spec)
    if not files:
        return False
    from torchready.convert.coreml.torch_graph import display_path

    targets = MODES.get(mode or spec.mode or "auto")
    run = lint_paths([display_path(path) for path in files], fix=fix,
                     targets=list(targets) if targets else None)
    result.diagnostics.extend(run.diagnostics)
    for file in run.files:
        if file.diff and file.fixes_applied:
            result.lint_fixes[str(file.path)] = file.diff
        if file.error:
            result.notes.append(f"lint could not read {file.path}: {file.error}")
    return bool(result.lint_fixes)


def _forget_modules(fixed_paths: dict[str, str]) -> None:
    fixed = {str(Path(path).resolve()) for path in fixed_paths}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and str(Path(path).resolve()) in fixed:
            del sys.modules[name]


def _prepare(spec: ModelSpec) -> Any:
    from torchready.convert.prepare import prepare

    return prepare(spec)


def _capture(prepared: Any, mode: str, traced_submodules: list[str] | None) -> Any:
    from torchready.convert.capture import capture

    return capture(prepared, mode, traced_submodules)


def _shape_probing(result: ConversionResult) -> Any:
    from torchready.convert.parity.stage import run_shape_probing

    # An exported program is specialized to the example's size on every dimension not declared
    # as a torch.export.Dim, by construction (and torch.export proved the declared ones): only
    # the declared dimensions are worth probing.
    exported = result.captured.exported_program is not None
    return run_shape_probing(result, include_defaults=not exported)


def _parity(result: ConversionResult, parity_options: Any) -> Any:
    from torchready.convert.parity.stage import run_parity

    return run_parity(result, parity_options)


def _coverage(captured: Any, prepared: Any) -> Any:
    if captured.exported_program is not None:
        from torchready.convert.capture.export_readiness import check_export_op_coverage

        return check_export_op_coverage(captured.exported_program)
    from torchready.convert.coverage import check_op_coverage

    return check_op_coverage(captured, root=prepared.module)


def _fallback_location(spec: ModelSpec) -> tuple[str, int]:
    """Where a conversion failure without a node points: the model's class, else its factory."""
    from torchready.convert.coreml.torch_graph import display_path
    from torchready.convert.python_source import definition_line
    from torchready.convert.source_lines import is_user_file

    found = definition_line(type(spec.module))
    if found is not None and is_user_file(found[0]):
        return display_path(found[0]), found[1]
    if spec.origin is not None:
        return display_path(spec.origin[0]), spec.origin[1]
    return found if found is not None else ("<model>", 1)


def _convert(spec: ModelSpec, prepared: Any, captured: Any, progress: StageProgress) -> Any:
    from torchready.convert.coreml.captured import convert_captured
    from torchready.convert.coreml.conversion import CoreMLOptions

    requested = spec.compute_precision or "fp16"
    options = CoreMLOptions(  # auto starts at fp16; the precision step keeps ops in fp32
        compute_precision="fp16" if requested == "auto" else requested,
        minimum_deployment_target=spec.minimum_deployment_target,
    )
    return convert_captured(captured, prepared, options, input_types=spec.input_types,
                            fallback_location=_fallback_location(spec),
                            progress=progress.converter_phase)


def _wants_precision_step(spec: ModelSpec, parity: Any) -> bool:
    from torchready.convert.precision.stage import wants_precision_step

    return wants_precision_step(spec.compute_precision, parity)


def _precision(result: ConversionResult, spec: ModelSpec, prepared: Any,
               options: PipelineOptions) -> None:
    from torchready.convert.precision.stage import settle_precision

    settle_precision(result, spec.compute_precision, options.parity_options,
                     options.precision_options)
    if spec.compute_precision == "auto":  # the model kept gets its metadata, and says so
        _metadata(result, spec, prepared)


def _untested_versions() -> list[str]:
    """coremltools' import-time "Torch version X has not been tested" warning, kept as a note."""
    from torchready.convert.coreml.quiet import import_time_messages

    return [f"coremltools: {m.text}" for m in import_time_messages()
            if "has not been tested" in m.text]


def _metadata(result: ConversionResult, spec: ModelSpec, prepared: Any) -> None:
    from torchready.convert.metadata import (apply_metadata, default_descriptions, infer_preview_type,
                                  metadata_from_spec)

    metadata = metadata_from_spec(spec.metadata, labels=spec.class_labels,
                                  preview_type=spec.preview_type)
    outputs = result.mlmodel._mil_program.functions["main"].outputs
    first_shape = outputs[0].shape if outputs else None
    metadata.preview_type = infer_preview_type(
        metadata, has_image_input=any(plan.image for plan in result.inputs),
        first_output_shape=first_shape)
    inputs_text, outputs_text = default_descriptions(
        result.inputs, result.output_names, result.torch_output_names, metadata.labels,
        metadata.preview_type)
    metadata.input_descriptions = {**inputs_text, **metadata.input_descriptions}
    metadata.output_descriptions = {**outputs_text, **metadata.output_descriptions}
    from torchready.about import __version__

    extra = {"torchready.version": __version__,
             "torchready.capture": result.capture_mode or ""}
    if result.precision is not None:
        extra.update(result.precision.metadata())
    result.metadata = apply_metadata(result.mlmodel, metadata, extra=extra)


def _sourcemap(result: ConversionResult, prepared: Any) -> dict[str, Any]:
    from torchready.convert.sidecar import build_sourcemap

    return build_sourcemap(
        result.mlmodel, result.conversion.graph_index,
        input_names=[plan.name for plan in result.inputs],
        output_names=result.output_names,
        torch_output_names=result.torch_output_names,
        root=prepared.module,
    )


def _save(result: ConversionResult, path: Path) -> None:
    from torchready.convert.sidecar import write_sourcemap

    if path.suffix != ".mlpackage":
        raise UsageError(f"the output must be a .mlpackage path, got '{path}'.")
    path.parent.mkdir(parents=True, exist_ok=True)
    result.mlmodel.save(str(path))
    result.package_path = path
    if result.sourcemap is not None:
        result.sourcemap_path = write_sourcemap(result.sourcemap, path)


def _failed(result: ConversionResult, stage: str, error: str | None) -> ConversionResult:
    result.failed_stage = stage
    result.error = error
    result.diagnostics = _sorted(result.diagnostics)
    return result


def _without_repeats(new: list[Diagnostic], existing: list[Diagnostic]) -> list[Diagnostic]:
    """The coverage stage already reported every unsupported op with its lines; ct.convert's
    TR301 for the first of them would say the same thing again."""
    reported = {(d.code, d.details.get("op") or d.details.get("kind")) for d in existing}
    kept = []
    for diagnostic in new:
        key = (diagnostic.code, diagnostic.details.get("op"))
        if diagnostic.code == "TR301" and key in reported:
            continue
        kept.append(diagnostic)
    return kept


def _sorted(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """One finding per (code, file, line), paths as lint shows them, in source order.

    The static rules and the dynamic checks often see the same problem (TR101 on a dict-returning
    forward is both read in the source and observed in prepare). Keep the one with a fix, else
    the dynamic one (it saw what really happened).
    """
    import dataclasses

    from torchready.convert.coreml.torch_graph import display_path

    chosen: dict[tuple[str, str, int], Diagnostic] = {}
    for diagnostic in diagnostics:
        if not diagnostic.path.startswith("<"):
            diagnostic = dataclasses.replace(diagnostic, path=display_path(diagnostic.path))
        key = (diagnostic.code, diagnostic.path, diagnostic.line)
        kept = chosen.get(key)
        if kept is None or _preferred(diagnostic, kept):
            chosen[key] = diagnostic
    return sorted(chosen.values(), key=lambda d: d.sort_key)


def _preferred(candidate: Diagnostic, kept: Diagnostic) -> bool:
    if (candidate.fix is not None) != (kept.fix is not None):
        return candidate.fix is not None
    return kept.origin == "lint" and candidate.origin != "lint"
