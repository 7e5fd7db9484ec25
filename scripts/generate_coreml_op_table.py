"""Write lint/data/coreml_ops.json: which PyTorch APIs lower to ops coremltools cannot convert.

Two inputs:
  * coremltools' own op registry
    (`coremltools.converters.mil.frontend.torch.torch_op_registry._TORCH_OPS_REGISTRY`), asked
    with `get_func(op)`, the lookup `ct.convert` itself does (it normalizes `aten::index_add_`
    to `index_add`);
  * scripts/coreml_api_map.json, a hand-checked map from Python API names (`torch.linalg.det`,
    `Tensor.view_as`, `torch.nn.functional.interpolate` with `mode="bicubic"`,
    `torch.nn.EmbeddingBag`) to the aten ops TorchScript records for them, with a hint per op.

An API is unsupported while one of its ops has no converter. The linter (TR301) reads the JSON
and never imports coremltools; tests/lint/test_data_tables.py regenerates the table when
coremltools is installed and fails when the committed file is stale.

    python scripts/generate_coreml_op_table.py [--check]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_MAP = ROOT / "scripts" / "coreml_api_map.json"
OUTPUT = ROOT / "lint" / "data" / "coreml_ops.json"


def load_registry():
    """coremltools' torch op registry (importing coremltools prints platform warnings)."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        logging.getLogger("coremltools").setLevel(logging.ERROR)
        import coremltools
        from coremltools.converters.mil.frontend.torch.torch_op_registry import (
            _TORCH_OPS_REGISTRY,
        )
    return coremltools.__version__, _TORCH_OPS_REGISTRY


def build(api_map: dict, registry, coremltools_version: str, torch_version: str) -> dict:
    unsupported = []
    supported = []
    for entry in api_map["apis"]:
        missing = [op for op in entry["aten"] if registry.get_func(op) is None]
        if not missing:
            supported.append(entry["api"])
            continue
        row = {"api": entry["api"], "aten": missing,
               "hint": " / ".join(api_map["hints"][op] for op in missing)}
        if entry.get("when"):
            row["when"] = entry["when"]
        if entry.get("training_only"):
            row["training_only"] = True
        unsupported.append(row)
    return {
        "generated_by": "scripts/generate_coreml_op_table.py",
        "coremltools_version": coremltools_version,
        "torch_version": torch_version,
        "registry_size": len(registry.name_to_func_mapping),
        "unsupported": unsupported,
        # APIs of the map that coremltools converts now (listed so a stale map is visible).
        "now_supported": sorted(set(supported)),
    }


def render(table: dict) -> str:
    """One API per line: readable, and diffs show exactly which APIs changed."""
    head = {key: value for key, value in table.items() if key not in ("unsupported",
                                                                      "now_supported")}
    lines = ["{"]
    lines += [f" {json.dumps(key)}: {json.dumps(value)}," for key, value in head.items()]
    lines.append(' "unsupported": [')
    rows = [f"  {json.dumps(row)}" for row in table["unsupported"]]
    lines.append(",\n".join(rows))
    lines.append(" ],")
    lines.append(f' "now_supported": {json.dumps(table["now_supported"])}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def generate() -> str:
    import torch

    version, registry = load_registry()
    api_map = json.loads(API_MAP.read_text(encoding="utf-8"))
    return render(build(api_map, registry, version, torch.__version__.split("+")[0]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed table differs from a fresh one")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is stale: run python {Path(__file__).relative_to(ROOT)}",
                  file=sys.stderr)
            return 1
        print(f"{OUTPUT.relative_to(ROOT)} is up to date")
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    table = json.loads(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}: {len(table['unsupported'])} unsupported APIs, "
          f"{len(table['now_supported'])} now supported (coremltools "
          f"{table['coremltools_version']}, {table['registry_size']} registered ops)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
