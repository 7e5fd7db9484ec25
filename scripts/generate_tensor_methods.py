"""Write lint/data/tensor_methods.json: the public method and attribute names of torch.Tensor.

The linter never imports torch, yet it must tell `x.masked_fill(...)` (a tensor method: the
result is a tensor) from `cache.get_seq_length()` (not one) when `x` and `cache` both look like
tensors. This script asks the installed torch once; tests/lint/test_data_tables.py fails when
the committed file no longer matches the installed torch.

    python scripts/generate_tensor_methods.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "lint" / "data" / "tensor_methods.json"


def build() -> dict:
    import torch

    names = sorted(name for name in dir(torch.Tensor) if not name.startswith("_"))
    return {"torch_version": torch.__version__.split("+")[0], "names": names}


def render(table: dict) -> str:
    return json.dumps(table, indent=0) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed file differs from a fresh one")
    args = parser.parse_args(argv)
    text = render(build())
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT} ({len(json.loads(text)['names'])} names)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
