"""The source map sidecar: which TorchScript node and source line produced each MIL op.

coremltools knows, while it converts, which TorchScript node every MIL op comes from (each op's
`scopes` carry the node's module path and name), but it does not save that in the .mlpackage.
We read it from the converted program (`mlmodel._mil_program`, the final program after all graph
passes, whose op and var names are the ones saved), resolve each node name in the graph
coremltools converted, and write the result next to the package as
`<package stem>.torchready_sourcemap.json`. The parity engine uses it to say "first divergence at
<MIL op> from <file>:<line> (<torch op>)"; reports use it to point at lines.

Schema (version 1)::

    {
      "schema": "torchready-sourcemap", "version": 1,
      "function": "main",
      "inputs":  [{"name": "image", "torch_index": 0}],
      "outputs": [{"name": "out", "torch_index": 0, "torch_name": "out"}],
      "ops": {                                   # every MIL op, program order, nested blocks too
        "<MIL op name>": {
          "type": "conv",                        # MIL op type
          "outputs": ["<MIL var name>", ...],
          "block": "main",                       # or "<loop op name>[1]" for a while_loop body ...
          "passes": ["add_fp16_cast", ...],      # coremltools graph passes that touched it
          "torch": null | {                      # the TorchScript node it was converted from
            "node": "input.5",                   # the node's value name in coremltools' graph
            "kind": "aten::_convolution",
            "scope": "backbone/stem/0/input.5",  # coremltools' module path for the node
            "path": "fixtures/segmentation.py", "line": 20,      # the user's line
            "origin": {"path": ".../torch/nn/modules/conv.py", "line": 549}  # if different
          }
        }
      },
      "vars": {"<MIL var name>": "<MIL op name>"}   # which op produces each value
    }

Ops that no TorchScript node explains (input casts added by coremltools, image preprocessing)
have "torch": null.

Export mode (`--mode export`) writes the same schema: "torch" is then the fx node the op was
converted from (found by the `debug_handle` coremltools copies onto each op's scopes), "kind" its
aten op ("aten::convolution"), "scope" its nn.Module path from `nn_module_stack`, and
"path"/"line" the innermost frame of its `stack_trace` in the user's files, with an extra
"debug_handle" key.

Why op scopes and not coremltools' `convert_and_retrieve_op_mapping` (models/ml_program/
experimental/torch/debugging_utils.py): that helper runs its own inliner over the module and
renames every graph value ("var_N") before converting, i.e. it converts a different graph than
the one we captured and mutates it; and it maps only the top-level block, so the ops inside a
`while_loop` body (the whole GPT-2 of the sentence-completion demo) would be missing. The scopes
it reads are the same ones we read, on every block.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torchready.convert.coreml.fx_graph import FxGraphIndex
from torchready.convert.coreml.fx_graph import torch_entry as fx_torch_entry
from torchready.convert.coreml.torch_graph import GraphIndex, locate

SCHEMA = "torchready-sourcemap"
VERSION = 1
SUFFIX = ".torchready_sourcemap.json"


def sourcemap_path(package_path: str | os.PathLike[str]) -> Path:
    """Where the sidecar of `Model.mlpackage` lives: `Model.torchready_sourcemap.json` beside it."""
    package = Path(package_path)
    return package.with_name(package.name.removesuffix(".mlpackage") + SUFFIX)


def build_sourcemap(
    mlmodel: Any,
    index: GraphIndex | FxGraphIndex,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    torch_output_names: Sequence[str] | None = None,
    function_name: str = "main",
    root: Any = None,
) -> dict[str, Any]:
    """The source map of a converted model. `index` is the graph coremltools converted
    (`Conversion.graph_index`); `root` the captured nn.Module (helps place scripted nodes)."""
    from coremltools.converters.mil.mil.scope import ScopeSource

    program = getattr(mlmodel, "_mil_program", None)
    ops: dict[str, Any] = {}
    produced_by: dict[str, str] = {}
    located: dict[int, Any] = {}  # id(torch node) -> its "torch" entry, computed once per node

    def torch_entry(names: list[str], types: list[str]) -> dict[str, Any] | None:
        if not names:
            return None
        node = index.node(names[-1])
        if node is None:
            # Made by a coremltools torch-IR pass, not present in the graph: keep what it says.
            return {"node": names[-1], "kind": types[-1] if types else None,
                    "scope": "/".join(names)}
        key = id(node)
        if key not in located:
            entry: dict[str, Any] = {"node": names[-1], "kind": node.kind(),
                                     "scope": "/".join(names)}
            location = locate(node, root)
            if location is not None:
                entry.update(location)
            located[key] = entry
        return located[key]

    def fx_entry(scopes: Any) -> dict[str, Any] | None:
        # Export mode: the op's debug handle is the fx node's (capture.export numbers them).
        handles = [h for h in scopes.get(ScopeSource.EXIR_DEBUG_HANDLE, []) or []
                   if h is not None]
        node = index.node_of_handle(handles[-1]) if handles else None
        if node is None:
            return None
        if id(node) not in located:
            located[id(node)] = fx_torch_entry(node)
        return located[id(node)]

    exported = isinstance(index, FxGraphIndex)

    def walk(block: Any, block_name: str) -> None:
        for op in block.operations:
            scopes = op.scopes
            names = list(scopes.get(ScopeSource.TORCHSCRIPT_MODULE_NAME, []) or [])
            types = list(scopes.get(ScopeSource.TORCHSCRIPT_MODULE_TYPE, []) or [])
            outputs = [var.name for var in op.outputs]
            ops[op.name] = {
                "type": op.op_type,
                "outputs": outputs,
                "block": block_name,
                "passes": list(scopes.get(ScopeSource.COREMLTOOLS_GRAPH_PASS, []) or []),
                "torch": fx_entry(scopes) if exported else torch_entry(names, types),
            }
            for name in outputs:
                produced_by[name] = op.name
            for position, sub_block in enumerate(op.blocks):
                walk(sub_block, f"{op.name}[{position}]")

    if program is not None:
        walk(program.functions[function_name], function_name)

    torch_names = list(torch_output_names or output_names)
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "function": function_name,
        "inputs": [{"name": name, "torch_index": i} for i, name in enumerate(input_names)],
        "outputs": [
            {"name": name, "torch_index": i, "torch_name": torch_names[i]}
            for i, name in enumerate(output_names)
        ],
        "ops": ops,
        "vars": produced_by,
    }


def write_sourcemap(sourcemap: dict[str, Any], package_path: str | os.PathLike[str]) -> Path:
    path = sourcemap_path(package_path)
    path.write_text(json.dumps(sourcemap, indent=1) + "\n", encoding="utf-8")
    return path


def read_sourcemap(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a sidecar, given its own path or the path of the package it belongs to."""
    path = Path(path)
    if path.suffix == ".mlpackage" or path.is_dir():
        path = sourcemap_path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("schema") != SCHEMA or data.get("version") != VERSION:
        raise ValueError(f"{path} is not a torchready source map (version {VERSION})")
    return data


def torch_origin(sourcemap: dict[str, Any], mil_name: str) -> dict[str, Any] | None:
    """The TorchScript node entry for a MIL op name or var name (None if unknown)."""
    op_name = sourcemap["vars"].get(mil_name, mil_name)
    op = sourcemap["ops"].get(op_name)
    return op["torch"] if op else None
