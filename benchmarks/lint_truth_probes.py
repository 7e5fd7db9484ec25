"""Run one model through every capture and record where its own code breaks each one.

The probes (all on the same model, in this order):

* eager at sizes "a" and "b" (the reference outputs);
* torch.jit.trace at "a" and at "b", recording every TracerWarning with its Python stack;
* divergence: the trace taken at "a" run on the "b" inputs against eager at "b"; when they
  differ, the frozen constants and changed decisions behind it (`lint_truth_divergence`);
* torch.jit.script of the whole model, then of every model class among its submodules (the top
  level usually fails first, on a config object or `**kwargs`, and hides the rest);
* torch.export.export (non-strict) with the dimensions that differ between "a" and "b" declared
  `Dim.AUTO`, under the real-tensor propagation `draft_export` uses, so that export runs to the
  end and reports every guard on those dimensions, every specialisation and every data-dependent
  expression, each with the user stack torch logged for it;
* coremltools: `ct.convert` of the trace taken at "a", with the shapes of "a".

Every event is located at the innermost frame inside the model's own code (the installed package
for transformers models: `transformers/models/...`, `transformers/masking_utils.py`, ...; the
repository's `fixtures/` for the fixtures). Events with no such frame are kept apart as
"unlocated", with the reason.

Kinds and subjects (the scorer maps them to the lint rules that should report them):
  trace_bool      TracerWarning "Converting a tensor to a Python boolean"
  trace_index     ... "to a Python index"
  trace_number    ... "to a Python float/integer/number/list" (`math.sqrt(size)`, `int(t)`)
  trace_constant  "torch.tensor results are registered as constants"
  trace_iterate   "Iterating over a tensor"
  trace_len       "Using len to get tensor shape"
  trace_other     any other TracerWarning
                  (subject of the trace_* warnings: what the converted value depends on, read
                  from the live trace: "shape", "data", "constant" = the model's own parameters
                  and literals only, "unknown")
  trace_error     torch.jit.trace raised here (subject: the exception type)
  trace_divergence  the trace at "a" is wrong at "b", and this line is why: "constant" (a value
                  frozen into the trace), "branch"/"loop" (a statement that decides differently)
  script_error    torch.jit.script failed here; subject: what the compiler rejected ("kwargs",
                  "super", "optional", "container", "unannotated", "attribute", "annotation",
                  "construct", "call", "other")
  export_guard    export guarded a dynamic dimension here: "code" (the model's own Python:
                  a condition, `int()`, `range()`), "op" (a check inside a torch op the line
                  calls), "specialization" (the dimension became a constant)
  export_data_dependent  export met a data-dependent expression here
  export_error    export failed here (subject: the exception type)
  convert_failure ct.convert of the trace failed at the op this line emitted ("unsupported_op",
                  or the exception type when a converter failed)
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lint_truth_divergence import divergence
from lint_truth_events import ModelCode, Recorder, first_line, traceback_frames

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # torchready, when run from a checkout without installing it

_TRACER_KINDS = (
    (re.compile(r"Converting a tensor to a Python boolean"), "trace_bool"),
    (re.compile(r"Converting a tensor to a Python index"), "trace_index"),
    (re.compile(r"Converting a tensor to a (Python (float|integer|number|complex|list)|NumPy)"),
     "trace_number"),
    (re.compile(r"registered as constants"), "trace_constant"),
    (re.compile(r"Iterating over a tensor"), "trace_iterate"),
    (re.compile(r"Using len to get tensor shape"), "trace_len"),
)

# What torch.jit.script rejected, from the texts torch 2.13 produces (first match wins).
_SCRIPT_SUBJECTS = (
    ("kwargs", ("variable number of arguments", "keyword-only arguments")),
    ("super", ("super(", "'super'", "<class 'super'>")),
    # an Optional value (or an attribute that is None) used as if it were set
    ("optional", ("instead found type 'Optional[", "'Optional[Tensor]' object",
                  "'NoneType' object has no attribute")),
    ("container", ("previously matched to type", "Empty lists default to",
                   "Empty dicts default to")),
    ("unannotated", ("(inferred)", "not annotated with an explicit type")),
    ("call", ("Arguments for call are not valid", "Unknown builtin op", "cannot call a value",
              "Tried to call", "is not a function")),
    ("attribute", ("failed to convert Python type", "has no attribute",
                   "Failed to get source for", "nonexistent attribute", "Could not infer type of")),
    ("annotation", ("Unknown type name", "Unknown type annotation", "Unknown type constructor")),
    ("construct", ("aren't supported", "are not supported", "is not supported",
                   "not supported yet", "currently supported", "Python builtin",
                   "must be a string literal", "Expected integer literal",
                   "cannot statically infer", "Unsupported", "unsupported")),
)
_SCRIPT_LOCATION = re.compile(r'File "(?P<path>[^"]+)", line (?P<line>\d+)')
_NOT_IMPLEMENTED = re.compile(r"convert function for op '(?P<kind>[^']+)' not implemented")


# --- the model under capture ---------------------------------------------------------------------


def capture_module(model: Any, names: list[str], options: dict[str, Any]) -> Any:
    """A module taking the inputs positionally and returning the output's tensors as a tuple:
    what trace, export and ct.convert need, with the model's own code unchanged."""
    import torch
    from torch.utils import _pytree

    class Capture(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> tuple[Any, ...]:
            output = self.model(**dict(zip(names, tensors)), **options)
            return tuple(leaf for leaf in _pytree.tree_leaves(output)
                         if isinstance(leaf, torch.Tensor))

    return Capture().eval()


def eager(capture: Any, example: tuple) -> tuple:
    import warnings

    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        return capture(*example)


# --- trace ---------------------------------------------------------------------------------------


def tracer_kind(message: str) -> str:
    for pattern, kind in _TRACER_KINDS:
        if pattern.search(message):
            return kind
    return "trace_other"


def _origin_subject(origin: frozenset[str]) -> str:
    if "data" in origin:
        return "data"
    if "shape" in origin:
        return "shape"
    return "constant" if origin else "unknown"


def trace(capture: Any, example: tuple, recorder: Recorder, probe: str) -> Any | None:
    import torch

    from torchready.convert.capture.recording import recording_warnings

    traced = None
    with recording_warnings() as records, torch.no_grad():
        try:
            traced = torch.jit.trace(capture, example, check_trace=False, strict=False)
        except Exception as error:  # noqa: BLE001 - a failing trace is a finding
            recorder.add(traceback_frames(error), "trace_error", type(error).__name__, probe,
                         str(error))
    for record in records:
        if record.category != "TracerWarning":
            continue
        kind = tracer_kind(record.message)
        frames = [(frame.filename, frame.lineno or 0) for frame in reversed(record.stack)]
        frames = frames or [(record.filename, record.lineno)]
        recorder.add(frames, kind, _origin_subject(record.origin), probe, record.message)
    return traced


# --- script --------------------------------------------------------------------------------------


def script_subject(message: str) -> str:
    for subject, texts in _SCRIPT_SUBJECTS:
        if any(text in message for text in texts):
            return subject
    return "other"


def _script_reason(message: str) -> str:
    """The compiler's sentence (and, for a call, why the arguments do not fit), not the location
    block that follows it."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    reason = next((line for line in lines if not line.startswith(("File ", "~", "^"))),
                  first_line(message))
    why = next((line for line in lines if line.startswith("Expected a value of type")), None)
    return f"{reason} {why}"[:300] if why and why != reason else reason[:300]


def script(model: Any, recorder: Recorder) -> str:
    """Script the whole model; when that fails, each model class among its submodules."""
    import torch

    def attempt(module: Any, probe: str) -> bool:
        try:
            with fresh_script_types():
                torch.jit.script(module)
            return True
        except Exception as error:  # noqa: BLE001 - every compiler error is a finding
            message = str(error)
            frames = script_error_frames(message, module)
            if recorder.code.innermost(frames) is None:
                frames = _attribute_assignment(module, message, recorder.code) or frames
            frames += traceback_frames(error)
            recorder.add(frames, "script_error", script_subject(message), probe,
                         _script_reason(message))
            return False

    if attempt(model, f"script:{type(model).__name__}"):
        return "ok"
    classes: dict[type, Any] = {}
    for module in model.modules():
        if module is not model and recorder.code.relative(_class_file(type(module))) is not None:
            classes.setdefault(type(module), module)
    failed = [cls.__name__ for cls, module in classes.items()
              if not attempt(module, f"script:{cls.__name__}")]
    return f"model fails; {len(failed)} of {len(classes)} submodule classes fail"


def script_error_frames(message: str, module: Any) -> list[tuple[str, int]]:
    """The compiler's locations, innermost first, each checked against the code it quotes.

    torch names the file of a decorated method by the wrapper's code (`inspect.getsourcefile`
    does not unwrap) but takes the lines from the unwrapped function (`getsourcelines` does):
    an error in a transformers forward under `@deprecate_kwarg` is reported at its own line
    number in `utils/deprecation.py`. When the quoted code is not on the named line, the file
    is the one of the unwrapped method that has it there.
    """
    import linecache

    from torchready.convert.capture.script_errors import wrapped_method_files

    frames = []
    matches = list(_SCRIPT_LOCATION.finditer(message))
    for index, match in enumerate(matches):
        path, line = match["path"], int(match["line"])
        end = matches[index + 1].start() if index + 1 < len(matches) else len(message)
        quoted = _highlighted_line(message[match.end():end])
        if quoted is not None and linecache.getline(path, line).strip() != quoted:
            path = next((candidate for candidate in wrapped_method_files(module)
                         if linecache.getline(candidate, line).strip() == quoted), path)
        frames.append((path, line))
    return frames


def _highlighted_line(block: str) -> str | None:
    """The code line the compiler underlined (`~~~~ <--- HERE` sits under it)."""
    lines = block.splitlines()[1:]
    for previous, current in zip(lines, lines[1:]):
        if current.strip().startswith("~"):
            return previous.strip()
    return None


@contextlib.contextmanager
def fresh_script_types() -> Iterator[None]:
    """A new store of compiled module types for one torch.jit.script call: a failed compilation
    leaves a half-built type behind, and the next attempt on the same class would fail with
    "Can't redefine method" instead of the class's own error."""
    import torch.jit._recursive as recursive

    previous = recursive.concrete_type_store
    recursive.concrete_type_store = recursive.ConcreteTypeStore()
    try:
        yield
    finally:
        recursive.concrete_type_store = previous


def _class_file(cls: type) -> str | None:
    return getattr(sys.modules.get(cls.__module__), "__file__", None)


def _attribute_assignment(root: Any, message: str, code: ModelCode) -> list[tuple[str, int]]:
    """For a compiler error with no location that names the type of an attribute it could not
    convert ("Failed to get source for <function LlamaConfig.__init__ ...>": a config object
    on `self`), the `self.<attribute> = ...` line in the model's code that stored it."""
    for module in root.modules():
        for name, value in vars(module).items():
            if name.startswith("_") or type(value).__name__ not in message:
                continue
            for cls in type(module).__mro__:
                line = _assignment_line(cls, name)
                if line is not None and code.relative(_class_file(cls)) is not None:
                    return [(_class_file(cls), line)]
    return []


def _assignment_line(cls: type, attribute: str) -> int | None:
    import ast
    import inspect
    import textwrap

    init = vars(cls).get("__init__")
    try:
        lines, start = inspect.getsourcelines(init)
        tree = ast.parse(textwrap.dedent("".join(lines)))
    except (TypeError, OSError, SyntaxError):
        return None
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if isinstance(target, ast.Attribute) and target.attr == attribute and \
                    isinstance(target.value, ast.Name) and target.value.id == "self":
                return start + node.lineno - 1
    return None


# --- export --------------------------------------------------------------------------------------


@contextlib.contextmanager
def structured_trace() -> Iterator[list[dict[str, Any]]]:
    """torch's structured trace records (guards with their user stacks, data-dependent
    expressions) for the duration of the block; torch's logging is restored afterwards."""
    import torch._logging._internal as internal

    records: list[dict[str, Any]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            metadata = getattr(record, "metadata", None)
            if isinstance(metadata, dict):
                records.append(metadata)

    trace_log = logging.getLogger("torch.__trace")
    noisy = logging.getLogger("torch.fx.experimental.symbolic_shapes")
    previous = (list(trace_log.handlers), internal.GET_DTRACE_STRUCTURED, noisy.level)
    # torch's own (lazy, file-backed) trace handlers stay out while we listen: nothing is written.
    for handler in previous[0]:
        if isinstance(handler, internal.LazyTraceHandler):
            trace_log.removeHandler(handler)
    trace_log.addHandler(Keep())
    internal.GET_DTRACE_STRUCTURED = True
    noisy.setLevel(logging.ERROR)  # "propagate_real_tensors evaluate_expr" warnings
    try:
        yield records
    finally:
        handlers, internal.GET_DTRACE_STRUCTURED, level = previous
        trace_log.handlers[:] = handlers  # the same handlers, in the same order
        noisy.setLevel(level)


def _stack_frames(stack: list[dict[str, Any]] | None, files: dict[int, str]
                  ) -> list[tuple[str, int]]:
    """A logged stack (outermost first, filenames interned) as (path, line), innermost first."""
    return [(files.get(frame.get("filename"), str(frame.get("filename"))), frame.get("line", 0))
            for frame in reversed(stack or [])]


def dynamic_dims(example_a: tuple, example_b: tuple) -> tuple[dict[int, Any], ...]:
    from torch.export import Dim

    return tuple({dim: Dim.AUTO for dim, (a, b) in enumerate(zip(x.shape, y.shape)) if a != b}
                 for x, y in zip(example_a, example_b))


def export(capture: Any, example_a: tuple, example_b: tuple, recorder: Recorder) -> str:
    import torch
    import torch._functorch.config
    import torch._logging.structured

    dynamic = dynamic_dims(example_a, example_b)
    status = "ok"
    with torch._functorch.config.patch(fake_tensor_propagate_real_tensors=True,
                                       generate_fake_kernels_from_real_mismatches=True), \
            structured_trace() as records:
        try:
            # One entry: the capture module takes its inputs as `*tensors`.
            torch.export.export(capture, example_a, dynamic_shapes=(dynamic,), strict=False)
        except Exception as error:  # noqa: BLE001 - a failing export is a finding
            text = str(error)
            data_dependent = "data-dependent" in text or "DataDependent" in type(error).__name__
            recorder.add(traceback_frames(error),
                         "export_data_dependent" if data_dependent else "export_error",
                         type(error).__name__, "export", text)
            status = f"error: {first_line(text)}"
    files = {index: name for name, index in torch._logging.structured.INTERN_TABLE.items()}
    for metadata in records:
        guard = metadata.get("guard_added")
        if guard and guard.get("symbol_to_sources") and guard.get("prefix") == "eval":
            # "runtime_assert" guards come back as data-dependent provenance below;
            # "eval [guard suppressed]" ones constrain nothing.
            user = _stack_frames(guard.get("user_stack"), files)
            framework = _stack_frames(guard.get("stack"), files)
            # Python evaluated the guard in the model's own code (`if h % 8:`, `assert`,
            # `int(h / 2)`, `range(h)`), or torch did inside an op the model called there (the
            # checks of `view`, of a convolution's size, of broadcasting).
            subject = "code" if framework[:1] and framework[:1] == user[:1] else "op"
            recorder.add(user or framework, "export_guard", subject, "export",
                         f"guard {guard.get('expr')}")
        special = metadata.get("symbolic_shape_specialization")
        # Unbacked symbols (u0: a value read from data) come back as provenance below.
        if special and not str(special.get("symbol", "")).startswith("u") and \
                (special.get("user_stack") or special.get("stack")):
            recorder.add(_stack_frames(special.get("user_stack") or special.get("stack"), files),
                         "export_guard", "specialization", "export",
                         f"{special.get('symbol')} specialised to {special.get('value')} "
                         f"({special.get('reason')})")
        provenance = metadata.get("propagate_real_tensors_provenance")
        if provenance:
            recorder.add(_stack_frames(provenance.get("user_stack") or provenance.get("stack"),
                                       files),
                         "export_data_dependent", "data", "export",
                         f"data-dependent {provenance.get('expr')}")
    return status


# --- coremltools ---------------------------------------------------------------------------------


def convert(traced: Any, names: list[str], example: tuple, recorder: Recorder) -> str:
    import numpy as np

    from torchready.convert.coreml.errors import CONVERTING
    from torchready.convert.coreml.quiet import import_coremltools, recording
    from torchready.convert.coreml.torch_graph import GraphIndex, capturing_converted_graph

    ct = import_coremltools()
    inputs = [ct.TensorType(name=name, shape=tuple(tensor.shape),
                            dtype=np.float32 if tensor.is_floating_point() else np.int32)
              for name, tensor in zip(names, example)]
    with recording() as log, capturing_converted_graph() as captured, numpy_scalar_fix():
        try:
            ct.convert(traced, inputs=inputs, convert_to="mlprogram", skip_model_load=True)
            return "ok"
        except Exception as error:  # noqa: BLE001 - coremltools raises anything from any layer
            failure = error
    text = str(failure)
    match = _NOT_IMPLEMENTED.search(text)
    subject = "unsupported_op" if match else type(failure).__name__
    index = GraphIndex.of(captured.get("graph"))
    frames: list[tuple[str, int]] = []
    for message in log.errors():
        converting = CONVERTING.search(message)
        node = index.node(converting["location"]) if converting else None
        if node is not None:
            frames = _nearest_frames(node, recorder.code)
            break
    recorder.add(frames, "convert_failure", subject, "convert", text)
    return f"error: {first_line(text)}"


@contextlib.contextmanager
def numpy_scalar_fix() -> Iterator[None]:
    """coremltools 9.0's `int`/`bool` converters call `int()` on a shape-(1,) array, which
    NumPy >= 2.4 refuses: every traced model that slices by `size + offset` would fail there,
    and that one environment bug would hide the failure the model's own code causes. For this
    block only, those two converters are torchready's fix (composite op `scalar_cast`); every
    other converter is coremltools' own."""
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    from torchready.convert.composite_ops import scalar_cast

    names = (scalar_cast.KIND, *scalar_cast.ALIASES)
    mapping = _TORCH_OPS_REGISTRY.name_to_func_mapping
    previous = {name: mapping.get(name) for name in names}
    try:
        for name in names:
            mapping[name] = scalar_cast.lower
        yield
    finally:
        for name, converter in previous.items():
            if converter is None:
                mapping.pop(name, None)
            else:
                mapping[name] = converter


def _nearest_frames(node: Any, code: ModelCode, depth: int = 4) -> list[tuple[str, int]]:
    """The node's frames, or those of the nearest node feeding it that has frames in the model's
    code: nodes the tracer adds itself (`aten::Int` of a traced size, list constructs) carry no
    source range, the value they convert does."""
    from torchready.convert.source_lines import frames_of_node

    frontier, seen = [node], {id(node)}
    for _ in range(depth + 1):
        for current in frontier:
            frames = frames_of_node(current)
            if code.innermost(frames) is not None:
                return frames
        producers = [value.node() for current in frontier for value in current.inputs()]
        frontier = [producer for producer in producers if id(producer) not in seen
                    and producer.kind() != "prim::Param"]
        seen.update(id(producer) for producer in frontier)
    return frames_of_node(node)


# --- one model -----------------------------------------------------------------------------------


def collect(model_entry: Any) -> dict[str, Any]:
    """Every probe on one model of `lint_truth_models.MODELS`: events, unlocated events, the
    status of each probe and its seconds."""
    import time

    packages = ("fixtures", "transformers") if model_entry.is_fixture else ("transformers",)
    recorder = Recorder(ModelCode.for_packages(packages))
    status: dict[str, str] = {}
    seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def timed(probe: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            seconds[probe] = round(time.perf_counter() - started, 2)

    with timed("build"):
        model = model_entry.build()
        inputs_a, inputs_b = model_entry.inputs("a"), model_entry.inputs("b")
        names = list(inputs_a)
        example_a, example_b = tuple(inputs_a.values()), tuple(inputs_b.values())
        capture = capture_module(model, names, model_entry.options)
        eager(capture, example_a)
        try:
            eager_b = eager(capture, example_b)
        except Exception as error:  # noqa: BLE001 - some models accept only one size
            eager_b = None
            status["eager_b"] = f"error: {first_line(error)}"
    with timed("trace"):
        traced_a = trace(capture, example_a, recorder, "trace_a")
        traced_b = trace(capture, example_b, recorder, "trace_b") if eager_b is not None \
            else None
        status["trace"] = "ok" if traced_a is not None else "error"
    if traced_a is not None and traced_b is not None:
        with timed("divergence"):
            status["divergence"] = divergence(
                traced_a, lambda: eager(capture, example_a), lambda: eager(capture, example_b),
                eager_b, traced_b, example_b, recorder)
    with timed("script"):
        status["script"] = script(model, recorder)
    with timed("export"):
        status["export"] = export(capture, example_a, example_b, recorder)
    if traced_a is not None:
        with timed("convert"):
            status["convert"] = convert(traced_a, names, example_a, recorder)
    return {"status": status, "seconds": seconds,
            "inputs": {name: [list(a.shape), list(b.shape)]
                       for name, a, b in zip(names, example_a, example_b)},
            "events": [event.to_json() for event in recorder.events],
            "unlocated": [item.to_json() for item in recorder.unlocated]}
