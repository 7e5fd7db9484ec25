"""`torchready runtime-ops`: the MIL op types the reference runtime can execute, by family."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "list the MIL op types the reference runtime executes, grouped by family"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--coverage",
        action="store_true",
        help="also list the MIL op types coremltools defines that have no kernel (imports coremltools)",
    )


def run(args: argparse.Namespace) -> int:
    from torchready.convert.milrt import SUPPORTED_OPS, supported_ops_by_family

    families = supported_ops_by_family()
    missing = _missing_ops(SUPPORTED_OPS) if args.coverage else None
    if args.format == "json":
        payload: dict = {"version": 1, "count": len(SUPPORTED_OPS), "families": families}
        if missing is not None:
            payload["missing"] = missing
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    width = max(len(family) for family in families)
    for family, ops in families.items():
        print(f"{family:<{width}}  {', '.join(ops)}")
    print(f"\n{len(SUPPORTED_OPS)} MIL op types in {len(families)} families")
    if missing is not None:
        print("without a kernel: " + (", ".join(missing) if missing else "none"))
    return 0


def _missing_ops(supported) -> list[str]:
    from torchready.convert.coreml.quiet import import_coremltools

    import_coremltools()  # its import chatter about torch versions is recorded, not printed
    import coremltools.converters.mil.mil.ops.defs  # noqa: F401  (registers the op classes)
    from coremltools.converters.mil.mil.ops.registry import SSAOpRegistry
    # Names starting with "_" are builder internals that never reach a serialized program.
    return sorted(op for op in SSAOpRegistry.core_ops if op not in supported and not op.startswith("_"))
