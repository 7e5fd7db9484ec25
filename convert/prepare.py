"""Preparation: make a loaded model ready to capture, reporting what had to change.

1. `eval()`: dropout and batch-norm in training mode trace into a model that silently uses batch
   statistics (TR401, reported at the model's class or factory when it was training).
2. Parameters stop requiring grad: some real models fail to trace with "Cannot insert a Tensor
   that requires grad as a constant".
3. One eager run on the example inputs shows what forward returns; dicts, namedtuples,
   dataclasses, `ModelOutput`s, lists and nested tuples become a flat tuple of tensors through a
   generated wrapper (the talk's fix, done automatically), named after their keys (TR101 at the
   forward's `return` when the output was not a tensor or a tuple of tensors).
4. With the ImageNet preset the wrapper takes RGB images in [0, 1] and applies the exact
   per-channel normalisation itself (Core ML's ImageType only scales 0..255 pixels by 1/255).

`prepare` mutates the user's module the way the talk's script does (`model.eval()`, no grads);
the pipeline puts both back when the call ends (`model_state.preserved`); everything else lives
in the wrapper.
"""

from __future__ import annotations


import ast
import inspect
import keyword
import time
from dataclasses import dataclass, field
from typing import Any

from torchready.convert.findings import finding
from torchready.convert.library_logging import library_logging_quiet
from torchready.convert.outputs import OutputStructure, core_ml_name, describe_structure
from torchready.convert.python_source import (attribute_use_lines, call_name, definition_line,
                                   display_path, node_span, return_statements, source_file_of)
from torchready.convert.source_lines import is_user_file, user_frame_of_exception
from torchready.convert.spec import ModelSpec
from torchready.convert.wrapper import build_wrapper, wrapper_source
from torchready.lint.types import Diagnostic, Severity, UsageError

# Names the generated wrapper's forward uses itself; an input may not take them.
_RESERVED = {"self", "torch", "torchready_out"}


@dataclass
class Prepared:
    module: Any  # the generated wrapper nn.Module (eval mode) that capture traces/scripts
    example_inputs: tuple  # the wrapper's inputs (images in [0, 1] with the ImageNet preset)
    input_names: list[str]
    output_names: list[str]
    diagnostics: list[Diagnostic]
    was_training: bool
    output_structure: OutputStructure
    original: Any = None  # the user's nn.Module, wrapped as `module.model`
    # The wrapper's flat outputs on `example_inputs`, from the eager run (parity reference).
    reference_outputs: tuple = ()
    imagenet: bool = False
    image_inputs: list[str] = field(default_factory=list)
    flexible: dict[str, dict[int, tuple[int, int]]] = field(default_factory=dict)
    enumerated_shapes: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    wrapper_source: str = ""
    timings: dict[str, float] = field(default_factory=dict)


def prepare(spec: ModelSpec) -> Prepared:
    import torch

    started = time.perf_counter()
    model = spec.module
    if not isinstance(model, torch.nn.Module):
        raise UsageError(f"the model is a {type(model).__name__}, not a torch.nn.Module.")
    example_inputs = tuple(spec.example_inputs)
    diagnostics: list[Diagnostic] = []
    notes: list[str] = []

    was_training = any(module.training for module in model.modules())
    if was_training:
        diagnostics.append(_missing_eval(model, spec))
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)

    input_names = _input_names(model, spec, len(example_inputs))
    image_inputs = list(spec.image_inputs) or ([input_names[0]] if spec.imagenet else [])
    unknown = [name for name in image_inputs if name not in input_names]
    if unknown:
        raise UsageError(f"image input '{unknown[0]}' is not one of the model's inputs "
                         f"({', '.join(input_names)}).")
    normalised = image_inputs if spec.imagenet else []
    example_inputs = _imagenet_examples(example_inputs, input_names, normalised, notes)

    model_inputs = _normalise(example_inputs, input_names, normalised)
    with torch.no_grad(), library_logging_quiet():
        try:
            raw_output = model(*model_inputs)
        except Exception as error:
            where = user_frame_of_exception(error)
            at = f" at {display_path(where[0])}:{where[1]}" if where else ""
            first_line = (str(error).strip().splitlines() or [""])[0]
            raise UsageError(f"the model's forward raised {type(error).__name__}{at} on the "
                             f"example inputs: {first_line}") from error

    structure = describe_structure(raw_output, input_names, spec.output_names)
    if not structure.leaves:
        raise UsageError(f"the model's forward returned {structure.type_name} with no tensors "
                         "in it; Core ML models need at least one tensor output.")
    for dropped in structure.dropped:
        notes.append(f"output '{dropped.raw_name}' is a {dropped.type_name}, not a tensor; it is "
                     "not part of the Core ML model.")
    if not structure.is_plain:
        diagnostics.extend(_non_tensor_output(model, spec, structure))

    wrapper = build_wrapper(model, input_names, structure, normalised)
    return Prepared(
        module=wrapper,
        example_inputs=example_inputs,
        input_names=input_names,
        output_names=structure.names,
        diagnostics=diagnostics,
        was_training=was_training,
        output_structure=structure,
        original=model,
        reference_outputs=structure.flatten(raw_output),
        imagenet=spec.imagenet,
        image_inputs=image_inputs,
        flexible={name: dict(dims) for name, dims in spec.flexible.items()},
        enumerated_shapes={name: list(shapes) for name, shapes in spec.enumerated_shapes.items()},
        notes=notes,
        wrapper_source=wrapper_source(input_names, structure, normalised),
        timings={"prepare": time.perf_counter() - started},
    )


def _input_names(model: Any, spec: ModelSpec, count: int) -> list[str]:
    if spec.input_names is not None:
        if len(spec.input_names) != count:
            raise UsageError(f"{len(spec.input_names)} input names given for {count} example "
                             "inputs.")
        raw = list(spec.input_names)
    else:
        raw = forward_parameter_names(model)[:count]
        raw += [f"input_{index}" for index in range(len(raw), count)]
    names: list[str] = []
    for index, name in enumerate(raw):
        clean = core_ml_name(name, fallback="input")
        if clean in _RESERVED or keyword.iskeyword(clean) or clean in names:
            clean = f"input_{index}" if f"input_{index}" not in names else f"{clean}_{index}"
        if spec.input_names is not None and clean != name:
            raise UsageError(f"input name '{name}' is not usable; input names must be Python "
                             f"identifiers other than {', '.join(sorted(_RESERVED))}.")
        names.append(clean)
    return names


def forward_parameter_names(model: Any) -> list[str]:
    try:
        signature = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return []
    names = []
    for parameter in signature.parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD,
                              parameter.KEYWORD_ONLY):
            break
        names.append(parameter.name)
    return names


def _imagenet_examples(examples: tuple, names: list[str], normalised: list[str],
                       notes: list[str]) -> tuple:
    import torch

    fixed = list(examples)
    for index, name in enumerate(names):
        if name not in normalised:
            continue
        tensor = fixed[index]
        if tensor.dim() != 4 or tensor.shape[1] != 3:
            raise UsageError(f"the ImageNet preset needs RGB images shaped N x 3 x H x W, but "
                             f"input '{name}' has shape {tuple(tensor.shape)}.")
        if not tensor.is_floating_point() or tensor.min() < 0 or tensor.max() > 1:
            generator = torch.Generator().manual_seed(0)
            fixed[index] = torch.rand(tuple(tensor.shape), generator=generator)
            notes.append(f"example input '{name}' is not an image in [0, 1]; with the ImageNet "
                         "preset the model takes RGB images in [0, 1], so a random image of "
                         "the same shape was used instead.")
    return tuple(fixed)


def _normalise(examples: tuple, names: list[str], normalised: list[str]) -> tuple:
    if not normalised:
        return examples
    import torch

    from torchready.convert.wrapper import IMAGENET_MEAN, IMAGENET_STD

    mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
    return tuple((tensor - mean) / std if name in normalised else tensor
                 for name, tensor in zip(names, examples))


def _model_site(model: Any, spec: ModelSpec) -> tuple[str, int] | None:
    """The model's `class` line when the user wrote it, else the factory that built it."""
    found = definition_line(type(model))
    if found is not None and is_user_file(found[0]):
        return found
    return spec.origin or found


def _training_sensitive(model: Any) -> list[str]:
    """Names of the layers whose forward differs in training mode: torch's dropout and
    normalisation layers, and the user's modules that read `self.training` in forward."""
    found = set()
    for module in model.modules():
        cls = type(module)
        if cls.__module__.startswith("torch.nn.modules") and any(
                word in cls.__name__ for word in ("BatchNorm", "InstanceNorm", "Dropout")):
            found.add(cls.__name__)
        elif is_user_file(source_file_of(cls)) and attribute_use_lines(cls, "training"):
            found.add(cls.__name__)
    return sorted(found)


def _missing_eval(model: Any, spec: ModelSpec) -> Diagnostic:
    site = _model_site(model, spec)
    training = _training_sensitive(model)
    if training:
        effect = (f" (its {', '.join(training)} layers behave differently in training): a model "
                  "traced in training mode keeps dropout and batch statistics, and coremltools "
                  "converts that silently")
    else:
        effect = ("; none of its layers behaves differently in training, so nothing changed "
                  "here, but a model that gains dropout or batch-norm would convert wrongly")
    message = (f"{type(model).__name__} was in training mode{effect}. torchready called .eval() "
               "before capture; call model.eval() before torch.jit.trace/script in your own "
               "conversion scripts.")
    path, line = site if site else ("<unknown>", 1)
    return finding("TR401", path, line, message, origin="prepare",
                   severity=Severity.WARNING if training else Severity.INFO,
                   details={"handled": True, "training_layers": training})


def _non_tensor_output(model: Any, spec: ModelSpec,
                       structure: OutputStructure) -> list[Diagnostic]:
    names = ", ".join(leaf.name for leaf in structure.leaves)
    shown = structure.type_name if structure.kind != "dict" else "a dict"
    trace_effect = {
        "dict": 'torch.jit.trace refuses it ("Encountering a dict at the output of the tracer '
                'might cause the trace to be incorrect") and coremltools cannot convert '
                "dictconstruct",
        "model_output": "torch.jit.trace refuses this dict subclass and coremltools cannot "
                        "convert dictconstruct",
        "list": "torch.jit.trace refuses list outputs in strict mode",
        "dataclass": "torch.jit.trace cannot record a dataclass",
    }.get(structure.kind, "torch.jit.trace and coremltools expect a tensor or a tuple of tensors")
    message = (f"{type(model).__name__}.forward returns {shown}, not a tensor or a tuple of "
               f"tensors: {trace_effect}. torchready captures a generated wrapper that returns "
               f"the tensors as a flat tuple, named {names}; no source change is needed.")
    if structure.dropped:
        message += " Dropped (not tensors): " + ", ".join(
            f"{d.raw_name} ({d.type_name})" for d in structure.dropped) + "."
    severity = Severity.WARNING if structure.kind in ("namedtuple", "tuple") else Severity.ERROR
    details = {"handled": True, "output_type": structure.type_name, "kind": structure.kind,
               "output_names": structure.names,
               "dropped": [d.raw_name for d in structure.dropped]}
    forward = getattr(type(model), "forward", None)
    returns = return_statements(forward) if forward is not None else []
    if returns and is_user_file(returns[0][0]):
        chosen = [item for item in returns if _builds_structure(item[1].value)] or returns[-1:]
        return [finding("TR101", path, node.lineno, message, origin="prepare", severity=severity,
                        span=node_span(node), details=details) for path, node in chosen]
    site = spec.origin or definition_line(type(model))
    if site is None:
        return []
    return [finding("TR101", site[0], site[1], message, origin="prepare", severity=severity,
                    details={**details, "library_forward": True})]


def _builds_structure(value: ast.AST | None) -> bool:
    """A `return` whose value is visibly not a tensor: a dict/list display, None, a constructor
    call (`CausalLMOutput(...)`, `dict(...)`), or a tuple holding one of those."""
    if value is None or isinstance(value, (ast.Dict, ast.DictComp, ast.List, ast.ListComp)):
        return True
    if isinstance(value, ast.Constant):
        return value.value is None or isinstance(value.value, str)
    if isinstance(value, ast.Tuple):
        return any(_builds_structure(item) for item in value.elts)
    if isinstance(value, ast.Call):
        last = call_name(value).rsplit(".", 1)[-1]
        return last == "dict" or (last[:1].isupper() and last != "Tensor")
    return False

