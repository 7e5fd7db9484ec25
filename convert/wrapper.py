"""The generated wrapper module that torchready captures instead of the user's model.

The talk's fix for DeepLabV3's dict output is a thin `nn.Module` whose forward returns
`model(x)["out"]`. torchready writes that wrapper for every model: its forward takes the Core ML
inputs by name, applies the ImageNet normalisation when asked (exact per-channel mean/std, which
coremltools' single ImageType scale cannot express), calls the model and returns the flat tuple of
tensor leaves. It is generated as Python source, not as a generic loop over access paths, so that
`torch.jit.script` compiles it too (script and hybrid modes): the code is plain `out["out"]`,
`out.logits` and `out[0]`. The source is registered in `linecache` so `inspect.getsource` (which
TorchScript uses) finds it; its file name starts with '<', so it is never taken for user code.
"""

from __future__ import annotations

import itertools
import linecache
from typing import Any

from torchready.convert.outputs import OutputStructure

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_counter = itertools.count(1)
_OUT = "torchready_out"


def _access(path: tuple) -> str:
    code = _OUT
    for how, key in path:
        code += f".{key}" if how == "attr" else f"[{key!r}]"
    return code


def wrapper_source(input_names: list[str], structure: OutputStructure,
                   normalised_inputs: list[str], always_tuple: bool = False) -> str:
    params = ", ".join(["self", *input_names])
    lines = [
        "class TorchreadyWrapper(torch.nn.Module):",
        "    def forward(" + params + "):",
    ]
    for name in normalised_inputs:
        lines.append(f"        {name} = ({name} - self.image_mean) / self.image_std")
    lines.append(f"        {_OUT} = self.model({', '.join(input_names)})")
    if always_tuple:
        # A traced submodule replacing one that returned a dict/ModelOutput: the scripted caller
        # indexes the result (`out[0]`), which works on both.
        leaves = "".join(_access(leaf.path) + ", " for leaf in structure.leaves)
        lines.append(f"        return ({leaves.rstrip()})")
    elif structure.kind == "tensor":
        lines.append(f"        return {_OUT}")
    elif len(structure.leaves) == 1:
        lines.append(f"        return {_access(structure.leaves[0].path)}")
    else:
        leaves = ", ".join(_access(leaf.path) for leaf in structure.leaves)
        lines.append(f"        return ({leaves})")
    return "\n".join(lines) + "\n"


def build_wrapper(model: Any, input_names: list[str], structure: OutputStructure,
                  normalised_inputs: list[str], always_tuple: bool = False) -> Any:
    """Instantiate a wrapper around `model` (the model is a submodule, not copied)."""
    import torch

    source = wrapper_source(input_names, structure, normalised_inputs, always_tuple)
    filename = f"<torchready-wrapper-{next(_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"torch": torch, "__name__": "torchready_wrapper"}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated code
    wrapper = namespace["TorchreadyWrapper"]()
    wrapper.model = model
    if normalised_inputs:
        wrapper.register_buffer("image_mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1))
        wrapper.register_buffer("image_std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1))
    wrapper.eval()
    return wrapper
