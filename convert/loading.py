"""Loading the model a user names: `path/to/file.py:factory` or `package.module:factory`.

The factory is called without arguments and returns an `nn.Module`, a `(module, example_inputs)`
pair, or a `ModelSpec`. A bare module has no example inputs, so the command line must declare
them with `--input NAME:SHAPE[:TYPE]` (grammar below); random tensors of that shape and type are
made for it. Every way this can go wrong is a user mistake and raises `UsageError` with one
sentence that names the spec and carries the underlying exception's message (exit code 2).

Input declaration grammar (`--input`, repeatable, one per forward argument, in order):

    DECL  := NAME ":" SHAPE [":" TYPE]
    SHAPE := DIM ("x" DIM)*
    DIM   := INT                      a fixed size, e.g. 224
           | "(" LO ".." [HI] ["=" EXAMPLE] ")"
                                      a flexible size (ct.RangeDim); no HI means unbounded; the
                                      example tensor uses EXAMPLE, else LO (raised to 2 when LO
                                      is 1: size-1 examples let the tracer specialise broadcasts)
    TYPE  := "image" | "float32" | "float16" | "int32" | "int64" | "bool"     default float32

    --input image:1x3x224x224:image   --input tokens:1x(1..128=8):int64
    --input x:1x3x(64..512)x(64..512)

Checkpoints are only ever read with `torch.load(path, weights_only=True)`: a pickle can run code,
and the weights-only unpickler refuses anything but tensors and plain containers.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchready.convert.spec import ModelSpec
from torchready.lint.types import UsageError

INPUT_TYPES = ("image", "float32", "float16", "int32", "int64", "bool")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_FIXED_DIM = re.compile(r"\s*(\d+)\s*\Z")
_RANGE_DIM = re.compile(r"\s*\(\s*(\d+)\s*\.\.\s*(\d+)?\s*(?:=\s*(\d+)\s*)?\)\s*\Z")
_GRAMMAR_HINT = ("expected NAME:SHAPE[:TYPE] such as 'x:1x3x224x224', 'x:1x3x(64..512)x(64..512)' "
                 f"or 'tokens:1x(1..128):int64' (TYPE is one of {', '.join(INPUT_TYPES)})")


@dataclass(frozen=True)
class InputDecl:
    """One `--input` declaration."""

    name: str
    shape: tuple[int, ...]  # the example tensor's shape
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)  # dim -> (lo, hi); hi -1: open
    dtype: str = "float32"
    image: bool = False


def parse_input_decl(text: str) -> InputDecl:
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise UsageError(f"invalid --input '{text}': {_GRAMMAR_HINT}.")
    name, shape_text = parts[0].strip(), parts[1]
    kind = parts[2].strip().lower() if len(parts) == 3 else "float32"
    if not _NAME.match(name):
        raise UsageError(f"invalid --input '{text}': '{name}' is not a valid input name "
                         "(letters, digits and '_', not starting with a digit).")
    if kind not in INPUT_TYPES:
        raise UsageError(f"invalid --input '{text}': unknown type '{kind}'; "
                         f"use one of {', '.join(INPUT_TYPES)}.")
    shape: list[int] = []
    ranges: dict[int, tuple[int, int]] = {}
    for index, dim_text in enumerate(_split_dims(shape_text)):
        fixed = _FIXED_DIM.match(dim_text)
        flexible = _RANGE_DIM.match(dim_text)
        if fixed:
            size = int(fixed.group(1))
            if size < 1:
                raise UsageError(f"invalid --input '{text}': dimension {index} must be at least 1.")
            shape.append(size)
        elif flexible:
            lower = int(flexible.group(1))
            upper = int(flexible.group(2)) if flexible.group(2) else -1
            if lower < 1 or (upper != -1 and upper < lower):
                raise UsageError(f"invalid --input '{text}': range '{dim_text.strip()}' needs "
                                 "1 <= LO <= HI.")
            if flexible.group(3):
                example = int(flexible.group(3))
            elif lower == 1 and (upper == -1 or upper >= 2):
                example = 2
            else:
                example = lower
            if example < lower or (upper != -1 and example > upper):
                raise UsageError(f"invalid --input '{text}': example size {example} is outside "
                                 f"the range {lower}..{upper if upper != -1 else ''}.")
            ranges[index] = (lower, upper)
            shape.append(example)
        else:
            raise UsageError(f"invalid --input '{text}': cannot read dimension "
                             f"'{dim_text.strip()}'; {_GRAMMAR_HINT}.")
    if kind == "image" and (len(shape) != 4 or shape[1] not in (1, 3)):
        raise UsageError(f"invalid --input '{text}': an image input must be N x C x H x W with "
                         "C = 3 (RGB) or 1 (grayscale).")
    return InputDecl(name, tuple(shape), ranges,
                     "float32" if kind == "image" else kind, image=kind == "image")


def _split_dims(shape_text: str) -> list[str]:
    """Split on 'x' outside parentheses ('1x(1..8)x3' -> ['1', '(1..8)', '3'])."""
    dims, depth, current = [], 0, ""
    for char in shape_text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char in "xX" and depth == 0:
            dims.append(current)
            current = ""
        else:
            current += char
    dims.append(current)
    if any(not dim.strip() for dim in dims):
        raise UsageError(f"invalid --input shape '{shape_text}': {_GRAMMAR_HINT}.")
    return dims


def make_example_inputs(decls: list[InputDecl], seed: int = 0) -> tuple:
    """Random tensors for declared inputs: floats (and images) uniform in [0, 1), integers in
    {0, 1} (valid indices for any embedding), booleans at random."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    tensors = []
    for decl in decls:
        if decl.dtype in ("int32", "int64"):
            dtype = torch.int32 if decl.dtype == "int32" else torch.int64
            tensors.append(torch.randint(0, 2, decl.shape, generator=generator, dtype=dtype))
        elif decl.dtype == "bool":
            tensors.append(torch.rand(decl.shape, generator=generator) > 0.5)
        else:
            tensor = torch.rand(decl.shape, generator=generator)
            tensors.append(tensor.half() if decl.dtype == "float16" else tensor)
    return tuple(tensors)


def load_model(spec_text: str, inputs: list[InputDecl] | None = None) -> ModelSpec:
    """Import the factory named by `spec_text`, call it, and normalise what it returns."""
    location, factory_name = _split_spec(spec_text)
    module = _import_file(location, spec_text) if _looks_like_file(location) \
        else _import_module(location, spec_text)
    factory = getattr(module, factory_name, None)
    if factory is None:
        available = sorted(name for name, value in vars(module).items()
                           if callable(value) and not name.startswith("_")
                           and getattr(value, "__module__", None) == module.__name__)
        hint = f" (it defines: {', '.join(available)})" if available else ""
        raise UsageError(f"'{location}' has no factory named '{factory_name}'{hint}.")
    if not callable(factory):
        raise UsageError(f"'{spec_text}' names a {type(factory).__name__}, not a callable factory.")
    try:
        result = factory()
    except Exception as error:  # the user's code: any exception is theirs to fix
        raise UsageError(f"factory '{spec_text}' raised {_describe(error)}.") from error
    spec = _to_spec(result, spec_text, inputs or [])
    if spec.origin is None:
        from torchready.convert.python_source import definition_line

        spec.origin = definition_line(factory)
    return spec


def load_checkpoint(module: Any, path: str | Path) -> Any:
    """Load weights into `module`, only through torch's weights-only unpickler."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint '{path}' does not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise UsageError(f"checkpoint '{path}' cannot be loaded with weights_only=True "
                         f"({_describe(error)}); torchready never unpickles arbitrary "
                         "objects.") from error
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict):
        raise UsageError(f"checkpoint '{path}' holds a {type(state).__name__}, not a state dict.")
    try:
        module.load_state_dict(state)
    except Exception as error:
        message = _describe(error).replace("\n", " ").replace("\t", "")
        raise UsageError(f"checkpoint '{path}' does not match the model: {message}.") from error
    return module


def _describe(error: BaseException) -> str:
    message = str(error).strip()
    # One sentence: keep the first line of multi-line messages (tracebacks embedded in errors).
    first = message.splitlines()[0].rstrip(".") if message else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def _split_spec(spec_text: str) -> tuple[str, str]:
    # The last colon separates the factory (Windows paths have one in the drive letter).
    location, sep, factory = spec_text.rpartition(":")
    if not sep or not location or not factory or not factory.isidentifier():
        raise UsageError(f"MODEL must be 'path/to/file.py:factory' or 'package.module:factory', "
                         f"got '{spec_text}'.")
    return location, factory


def _looks_like_file(location: str) -> bool:
    return location.endswith(".py") or "/" in location or "\\" in location


def _import_file(location: str, spec_text: str) -> Any:
    path = Path(location)
    if not path.is_file():
        raise UsageError(f"model file '{location}' does not exist.")
    if path.suffix != ".py":
        raise UsageError(f"model file '{location}' is not a Python file.")
    resolved = path.resolve()
    # The model file imports its neighbours (`from segmentation import ...`), as when run as a
    # script, and TorchScript reads its source later: keep its directory importable.
    directory = str(resolved.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    name = _module_name_for(resolved)
    import_spec = importlib.util.spec_from_file_location(name, resolved)
    if import_spec is None or import_spec.loader is None:
        raise UsageError(f"model file '{location}' cannot be imported.")
    module = importlib.util.module_from_spec(import_spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module  # dataclasses and TorchScript look classes up by module name
    try:
        import_spec.loader.exec_module(module)
    except Exception as error:
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
        raise UsageError(f"could not import '{location}': {_describe(error)}.") from error
    return module


def _module_name_for(path: Path) -> str:
    """The file's stem, unless that name is taken by another module (a user's `model.py` must
    not shadow an installed package of the same name)."""
    stem = path.stem
    existing = sys.modules.get(stem)
    existing_file = getattr(existing, "__file__", None)
    if stem.isidentifier() and (existing is None or (
            existing_file and Path(existing_file).resolve() == path)):
        return stem
    return f"_torchready_model_{abs(hash(str(path))):x}_{stem if stem.isidentifier() else 'm'}"


def _import_module(location: str, spec_text: str) -> Any:
    try:
        return importlib.import_module(location)
    except Exception as error:
        raise UsageError(f"could not import module '{location}': {_describe(error)}.") from error


def _to_spec(result: Any, spec_text: str, decls: list[InputDecl]) -> ModelSpec:
    import torch

    if isinstance(result, ModelSpec):
        spec = result
        if not isinstance(spec.module, torch.nn.Module):
            raise UsageError(f"factory '{spec_text}' returned a ModelSpec whose module is a "
                             f"{type(spec.module).__name__}, not an nn.Module.")
        spec.example_inputs = _as_example_tuple(spec.example_inputs, spec_text) \
            if spec.example_inputs is not None else ()
    elif isinstance(result, torch.nn.Module):
        spec = ModelSpec(module=result, example_inputs=())
    elif isinstance(result, (tuple, list)) and len(result) == 2 \
            and isinstance(result[0], torch.nn.Module):
        spec = ModelSpec(module=result[0],
                         example_inputs=_as_example_tuple(result[1], spec_text))
    else:
        raise UsageError(f"factory '{spec_text}' returned {_type_phrase(result)}; expected an "
                         "nn.Module, a (module, example_inputs) pair or a torchready.ModelSpec.")
    if decls:
        _apply_decls(spec, decls, spec_text)
    if not spec.example_inputs:
        raise UsageError(f"factory '{spec_text}' returned a model without example inputs; "
                         "declare each forward input with --input NAME:SHAPE (for example "
                         "--input x:1x3x224x224) or return (module, example_inputs).")
    return spec


def _type_phrase(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        inner = ", ".join(type(item).__name__ for item in value[:4])
        return f"a {type(value).__name__} of ({inner}{', ...' if len(value) > 4 else ''})"
    return "None" if value is None else f"a {type(value).__name__}"


def _as_example_tuple(value: Any, spec_text: str) -> tuple:
    import torch

    if isinstance(value, torch.Tensor):
        return (value,)
    if isinstance(value, (tuple, list)) and all(isinstance(v, torch.Tensor) for v in value):
        return tuple(value)
    raise UsageError(f"factory '{spec_text}' returned example inputs of {_type_phrase(value)}; "
                     "they must be a tensor or a tuple of tensors (Core ML inputs are tensors).")


def _apply_decls(spec: ModelSpec, decls: list[InputDecl], spec_text: str) -> None:
    """Declared inputs name the inputs, mark images and flexible dims; they supply the example
    tensors only when the factory did not."""
    if spec.example_inputs and len(spec.example_inputs) != len(decls):
        raise UsageError(f"{len(decls)} --input declarations given but factory '{spec_text}' "
                         f"returned {len(spec.example_inputs)} example inputs.")
    if spec.example_inputs:
        for decl, tensor in zip(decls, spec.example_inputs):
            if len(decl.shape) != tensor.dim() or any(
                    size != tensor.shape[dim] for dim, size in enumerate(decl.shape)
                    if dim not in decl.ranges):
                raise UsageError(f"--input {decl.name} declares shape "
                                 f"{'x'.join(map(str, decl.shape))} but the factory's example "
                                 f"has shape {'x'.join(map(str, tensor.shape))}.")
    else:
        spec.example_inputs = make_example_inputs(decls)
    spec.input_names = [decl.name for decl in decls]
    for decl in decls:
        if decl.ranges:
            spec.flexible[decl.name] = dict(decl.ranges)
        if decl.image and decl.name not in spec.image_inputs:
            spec.image_inputs.append(decl.name)
