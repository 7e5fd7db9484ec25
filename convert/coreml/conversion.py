"""The conversion stage: a captured TorchScript module -> an ML program (`ct.MLModel`).

Everything coremltools would otherwise decide implicitly is decided here and recorded: the input
declarations (`inputs.plan_inputs`), explicit output names (so an output can never collide with an
input, and never be called 'var_1234'), the deployment target and compute precision. Composite ops
are in coremltools' registry while `ct.convert` runs (only then: `composite_ops.installed`), and
the ones coremltools actually called are recorded. Right
before `ct.convert`, torchready's TorchScript graph passes (`torchready.convert.graph_passes`) rewrite graph
patterns coremltools cannot see through into equivalent ones, and the passes that changed
something are recorded too. coremltools' logging, warnings and progress bars are captured
(`quiet.recording`); when it fails, the failure becomes one diagnostic at the user's source line
(`errors.conversion_diagnostic`).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torchready.convert.coreml.errors import FailedNode, conversion_diagnostic, first_line
from torchready.convert.coreml.mil_records import (folded_lines, folded_notes, rank_diagnostic,
                                                   refusal)
from torchready.convert.coreml.inputs import InputPlan, coreml_input_types, plan_inputs
from torchready.convert.coreml.quiet import ConverterLog, ProgressCallback, import_coremltools, recording
from torchready.convert.coreml.torch_graph import GraphIndex, capturing_converted_graph
from torchready.lint.types import Diagnostic, UsageError

PRECISIONS = {"fp16": "FLOAT16", "float16": "FLOAT16", "fp32": "FLOAT32", "float32": "FLOAT32"}

# coremltools messages that say nothing to a torchready user: the scripted-model warning fires for
# every frozen module we hand it, and the temp-dir one is Python cleaning up after it.
_NOISE = (
    re.compile(r"^Support for converting Torch Script Models is experimental"),
    re.compile(r"^Implicitly cleaning up <TemporaryDirectory"),
    re.compile(r"^ERROR - converting '"),  # turned into the diagnostic instead
    re.compile(r"^Failed to load _ML"),  # the macOS-only runtime bindings, absent on Linux
    re.compile(r"^Tuple detected at graph output"),  # our outputs are named one by one
)


@dataclass(frozen=True)
class CoreMLOptions:
    compute_precision: str = "fp16"  # like coremltools' default for ML programs
    minimum_deployment_target: str | None = None  # None: coremltools' default (iOS15)
    # fp16 only: which ops coremltools' add_fp16_cast pass may turn to fp16 (the others stay
    # fp32), passed as ct.transform.FP16ComputePrecision(op_selector=...). None: every op.
    op_selector: Callable[[Any], bool] | None = None

    def __post_init__(self) -> None:
        if self.compute_precision.lower() not in PRECISIONS:
            raise UsageError(f"unknown compute precision {self.compute_precision!r} "
                             "(use fp16 or fp32)")


@dataclass
class Conversion:
    """What the conversion stage produced. `mlmodel` is None when coremltools failed."""

    mlmodel: Any | None
    inputs: list[InputPlan]
    output_names: list[str]  # Core ML output names, in the PyTorch output order
    torch_output_names: list[str]
    diagnostics: list[Diagnostic] = field(default_factory=list)
    log: ConverterLog = field(default_factory=ConverterLog)
    graph_index: GraphIndex = field(default_factory=GraphIndex)
    composite_ops_applied: list[str] = field(default_factory=list)
    graph_passes_applied: list[str] = field(default_factory=list)  # torchready.convert.graph_passes names
    folded_at: list[tuple[str, int]] = field(default_factory=list)  # rank > 5 values folded there
    failed_node: FailedNode | None = None
    error: str | None = None  # first line of coremltools' message on failure
    notes: list[str] = field(default_factory=list)
    options: CoreMLOptions = field(default_factory=CoreMLOptions)

    @property
    def ok(self) -> bool:
        return self.mlmodel is not None


def deployment_target(ct: Any, name: str | None) -> Any:
    if name is None:
        return None
    wanted = name.replace(".", "_").lower()
    for candidate in dir(ct.target):
        if candidate.lower() == wanted:
            return getattr(ct.target, candidate)
    known = ", ".join(n for n in dir(ct.target) if n.startswith("iOS"))
    raise UsageError(f"unknown deployment target {name!r} (for example: {known})")


def coreml_output_names(torch_names: Sequence[str], input_names: Sequence[str]) -> list[str]:
    """Valid MIL identifiers, unique, never equal to an input name."""
    taken = set(input_names)
    names = []
    for position, raw in enumerate(torch_names):
        name = re.sub(r"\W", "_", str(raw)) or f"output_{position}"
        if name[0].isdigit():
            name = f"output_{name}"
        base, suffix = name, 1
        while name in taken:
            name = f"{base}_out" if suffix == 1 else f"{base}_out{suffix}"
            suffix += 1
        taken.add(name)
        names.append(name)
    return names


def plan_conversion(
    *,
    input_names: Sequence[str],
    example_inputs: Sequence[Any],
    output_names: Sequence[str],
    options: CoreMLOptions | None,
    flexible: Mapping[str, Mapping[int, tuple[int, int | None]]] | None,
    enumerated_shapes: Mapping[str, Sequence[Sequence[int]]] | None,
    image_inputs: Sequence[str],
    imagenet: bool,
    input_types: Sequence[Any] | None,
) -> tuple[Any, Conversion, dict[str, Any]]:
    """What both frontends (TorchScript and torch.export) declare to `ct.convert`: the input
    plans, output names that never collide with inputs, target and precision.
    Returns (coremltools, an empty Conversion to fill, the ct.convert keyword arguments)."""
    options = options or CoreMLOptions()
    ct = import_coremltools()
    plans = plan_inputs(input_names, example_inputs, flexible=flexible,
                        enumerated_shapes=enumerated_shapes, image_inputs=image_inputs,
                        imagenet=imagenet)
    if input_types:  # the user's own declarations decide what is an image
        plans = [dataclasses.replace(plan, image=isinstance(declared, ct.ImageType))
                 for plan, declared in zip(plans, input_types)]
    names = coreml_output_names(output_names, input_names)
    conversion = Conversion(mlmodel=None, inputs=plans, output_names=names,
                            torch_output_names=list(output_names), options=options)
    conversion.notes.extend(plan.note for plan in plans if plan.note)
    for torch_name, name in zip(output_names, names):
        if str(torch_name) != name:
            conversion.notes.append(f"output {torch_name!r} is named {name!r} in Core ML")
    arguments = {
        "inputs": list(input_types) if input_types else coreml_input_types(plans),
        "outputs": [ct.TensorType(name=name) for name in names],
        "convert_to": "mlprogram",
        "minimum_deployment_target": deployment_target(ct, options.minimum_deployment_target),
        "compute_precision": _compute_precision(ct, options),
        # Core ML can only load a model on macOS; elsewhere loading would just fail and warn.
        "skip_model_load": sys.platform != "darwin",
    }
    return ct, conversion, arguments


def _compute_precision(ct: Any, options: CoreMLOptions) -> Any:
    """coremltools' precision; fp16 always keeps the index arithmetic of torchready's
    runtime-size resizes in float32 (an fp16 pixel index is wrong beyond a few hundred pixels),
    and the ops `options.op_selector` keeps."""
    from torchready.convert.composite_ops._runtime_size import keep_fp32

    precision = getattr(ct.precision, PRECISIONS[options.compute_precision.lower()])
    if precision != ct.precision.FLOAT16:
        return precision
    chosen = options.op_selector
    return ct.transform.FP16ComputePrecision(
        op_selector=keep_fp32 if chosen is None else lambda op: keep_fp32(op) and chosen(op))


def record_mil_passes(conversion: Conversion, records: list[Any], root: Any = None) -> None:
    """Name the MIL passes that rewrote the program, and say what they did where."""
    notes = folded_notes(records, conversion.graph_index, root)
    conversion.folded_at = folded_lines(records, conversion.graph_index, root)
    if notes:
        names = {record.pass_name for record in records if record.outcome == "folded"}
        conversion.graph_passes_applied += sorted(names - set(conversion.graph_passes_applied))
        conversion.notes.extend(notes)


def convert_script_module(
    script_module: Any,
    *,
    input_names: Sequence[str],
    example_inputs: Sequence[Any],
    output_names: Sequence[str],
    options: CoreMLOptions | None = None,
    flexible: Mapping[str, Mapping[int, tuple[int, int | None]]] | None = None,
    enumerated_shapes: Mapping[str, Sequence[Sequence[int]]] | None = None,
    image_inputs: Sequence[str] = (),
    imagenet: bool = False,
    input_types: Sequence[Any] | None = None,
    fallback_location: tuple[str, int] = ("<model>", 1),
    root: Any = None,
    progress: ProgressCallback | None = None,
) -> Conversion:
    """Convert a (frozen) TorchScript module to an ML program.

    `input_types` (ct.TensorType/ImageType objects from a ModelSpec) replaces the declarations
    torchready would derive; `root` is the nn.Module that was captured (for source lines).
    Raises UsageError for declarations that cannot work (unknown input in `flexible`, an example
    outside its range, ...); conversion failures are returned as diagnostics, not raised.
    """
    from torchready.convert import mil_passes
    from torchready.convert.composite_ops import installed, recording_applied
    from torchready.convert.graph_passes import run_graph_passes

    ct, conversion, arguments = plan_conversion(
        input_names=input_names, example_inputs=example_inputs, output_names=output_names,
        options=options, flexible=flexible, enumerated_shapes=enumerated_shapes,
        image_inputs=image_inputs, imagenet=imagenet, input_types=input_types)
    passes = run_graph_passes(script_module)
    conversion.graph_passes_applied = passes.names
    conversion.notes.extend(applied.describe() for applied in passes.applied)
    conversion.notes.extend(f"graph pass skipped after an error (a torchready bug): {failure}"
                            for failure in passes.failed)
    with installed(), recording(progress) as log, capturing_converted_graph() as captured, \
            recording_applied() as applied, mil_passes.recording() as mil_records, \
            mil_passes.installed() as pipeline:
        try:
            conversion.mlmodel = ct.convert(script_module, pass_pipeline=pipeline, **arguments)
        except Exception as error:  # coremltools raises anything from any layer
            conversion.error = first_line(error)
            failure = error
        else:
            failure = None
    conversion.log = log
    conversion.graph_index = GraphIndex.of(captured.get("graph"))
    conversion.composite_ops_applied = list(applied)
    record_mil_passes(conversion, mil_records, root)
    if failure is not None:
        refused = refusal(mil_records, failure)
        if refused is not None:
            conversion.diagnostics.append(
                rank_diagnostic(refused, conversion.graph_index, fallback_location, root))
        else:
            diagnostic, node = conversion_diagnostic(failure, log, conversion.graph_index,
                                                     fallback_location, root)
            conversion.diagnostics.append(diagnostic)
            conversion.failed_node = node
    conversion.notes.extend(
        message.text for message in log.unique()
        if message.level != "error" and not any(p.search(message.text) for p in _NOISE)
    )
    return conversion
