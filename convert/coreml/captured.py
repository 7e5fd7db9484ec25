"""Convert whatever the capture stage produced: a TorchScript module or an ExportedProgram.

The pipeline's convert stage and parity's fp32 re-conversion both go through here, so the two
always hand coremltools the same declarations (inputs, outputs, flexible dimensions, images).
"""

from __future__ import annotations

from typing import Any

from torchready.convert.coreml.conversion import Conversion, CoreMLOptions
from torchready.convert.coreml.quiet import ProgressCallback


def convert_captured(captured: Any, prepared: Any, options: CoreMLOptions, *,
                     input_types: Any = None, fallback_location: tuple[str, int] = ("<model>", 1),
                     progress: ProgressCallback | None = None) -> Conversion:
    declarations = dict(
        input_names=prepared.input_names,
        example_inputs=prepared.example_inputs,
        output_names=prepared.output_names,
        options=options,
        flexible=prepared.flexible,
        enumerated_shapes=prepared.enumerated_shapes,
        image_inputs=prepared.image_inputs,
        imagenet=prepared.imagenet,
        input_types=input_types,
        fallback_location=fallback_location,
        progress=progress,
    )
    program = getattr(captured, "exported_program", None)
    if program is not None:
        from torchready.convert.coreml.export_conversion import convert_exported_program

        return convert_exported_program(program, **declarations)
    from torchready.convert.coreml.conversion import convert_script_module

    return convert_script_module(captured.module, root=prepared.module, **declarations)
