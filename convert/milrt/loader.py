"""Load the final ML program of a converted model: the program that ships, after every pass.

The program is read back from the serialized model (the package's `model.mlmodel` spec and its
weight files) with coremltools' milproto loader, never from `MLModel._mil_program`: the
in-memory pymil program of a fresh conversion is private API and not guaranteed to be what was
written to disk.
"""

from __future__ import annotations

import os
from pathlib import Path

from torchready.convert.milrt.errors import NotAnMLProgramError
from torchready.convert.milrt.program import ReferenceProgram
from torchready.lint.types import UsageError


def load_program(source, function_name: str | None = None) -> ReferenceProgram:
    """A ReferenceProgram for `source`: a path to a saved .mlpackage or a `ct.models.MLModel`.

    `function_name` picks a function of a multifunction model (default: the model's default
    function, "main" for ordinary models).
    """
    import coremltools as ct
    from coremltools.converters.mil.frontend.milproto.load import load as milproto_load

    if isinstance(source, ct.models.MLModel):
        mlmodel = source
        label = getattr(mlmodel, "package_path", None) or "<in-memory MLModel>"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise UsageError(f"no model at {path}")
        try:
            mlmodel = ct.models.MLModel(str(path), skip_model_load=True)
        except Exception as error:
            raise UsageError(f"could not read the Core ML model at {path}: {error}") from error
        label = str(path)
    else:
        raise UsageError(
            "load_program expects a path to a .mlpackage or a coremltools MLModel, "
            f"got {type(source).__name__}"
        )

    spec = mlmodel.get_spec()
    kind = spec.WhichOneof("Type")
    if kind != "mlProgram":
        raise NotAnMLProgramError(
            f"{label} is a {kind} model; the reference runtime only runs ML programs "
            "(convert with convert_to='mlprogram')"
        )
    weights_dir = getattr(mlmodel, "weights_dir", None) or ""
    try:
        program = milproto_load(spec, spec.specificationVersion, weights_dir)
    except Exception as error:
        raise UsageError(f"coremltools could not load the ML program of {label}: {error}") from error
    if function_name is None:
        function_name = spec.description.defaultFunctionName or "main"
    if function_name not in program.functions:
        raise UsageError(f"{label} has no function {function_name!r}; it has {sorted(program.functions)}")
    return ReferenceProgram(program, spec, function_name, source=str(label))
