"""`--precision auto` over the parity model set and the zoo: what fp16 gives, what auto keeps.

    python benchmarks/precision_table.py               # the parity set + the auto models
    python benchmarks/precision_table.py --zoo         # the model zoo as well
    python benchmarks/precision_table.py --markdown --only exp-pooling,bert

Models: the parity set of `benchmarks/parity_table.py` (demos, `fixtures/parity_zoo.py`, its
negative controls), the fp16 failures `fixtures/parity_zoo.py` builds for auto
(`AUTO_PRECISION_MODELS`) and a model fp16 cannot hold anywhere (`pressure-regression`), and with
`--zoo` every model of `benchmarks/zoo_models.py`. Each goes through
`torchready.to_coreml(precision="auto")` in memory (lint off, trace unless the spec says
otherwise, the example plus `--random-inputs` random inputs). Per model the table shows:

* fp16: the parity verdict with every op in fp16 (what `--precision fp16` gives);
* auto: what auto kept (`fp16`: nothing to do; `mixed`: parity passes with the fp32 ops in fp32;
  `fp32`: no mixed program passed, the whole model fell back; `failed`: not even fp32 passes) and
  the parity verdict of the model kept;
* fp32 ops: how many ops auto keeps in fp32, of the ops computing on floats;
* search: seconds auto spent after the fp16 parity stage, and its conversions;
* reference runtime: the MIL reference runtime's time for one run of the example (median of
  `--runs`) of the program converted at fp16, of the program auto kept, and at fp32. These are
  the reference runtime's own numbers on this CPU (it computes every op in fp32 and rounds fp16
  values), not Core ML's: they show the cost of emulating the casts, not device speed.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "fixtures"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def models(zoo: bool) -> dict[str, Any]:
    import parity_table
    import parity_zoo

    chosen = {**parity_table.models(), **parity_zoo.AUTO_PRECISION_MODELS,
              "pressure-regression": parity_zoo.pressure_regression}
    if zoo:
        import zoo_models

        chosen.update({f"zoo: {model.name}": model.build for model in zoo_models.MODELS})
    return chosen


def measure(factory: Any, random_inputs: int, runs: int) -> dict[str, Any]:
    from torchready import ModelSpec, to_coreml
    from torchready.convert.parity.engine import ParityOptions

    built = factory()
    spec = built if isinstance(built, ModelSpec) else ModelSpec(built[0], tuple(built[1]))
    started = time.perf_counter()
    result = to_coreml(spec, lint=False, precision="auto",
                       parity_options=ParityOptions(random_inputs=random_inputs))
    seconds = time.perf_counter() - started
    report = result.precision
    if report is None:
        return {"error": f"{result.failed_stage}: {result.error}", "seconds": seconds}
    row = {"fp16": report.before.status if report.before else "-",
           "outcome": report.outcome,
           "auto": result.parity.status if result.parity is not None else "-",
           "fp32_ops": len(report.fp32_ops), "float_ops": report.float_ops,
           "search": report.seconds, "conversions": report.conversions,
           "seconds": seconds, "reason": report.reason,
           "lines": report.by_line() if report.fp32_ops else ""}
    row.update(runtime_seconds(result, runs, auto_is_fp16=report.outcome == "fp16"))
    return row


def runtime_seconds(result: Any, runs: int, auto_is_fp16: bool) -> dict[str, float | None]:
    """The reference runtime's median time for one run of the example, per program (auto's
    program is not timed again when it is the fp16 one)."""
    from torchready.convert.milrt import load_program
    from torchready.convert.parity.engine import ParityOptions, parity_cases
    from torchready.convert.parity.stage import convert_again, parity_options_for

    auto = load_program(result.mlmodel)
    _, plan = parity_cases(result.prepared, auto, parity_options_for(
        result, ParityOptions(random_inputs=0)))
    feeds = plan.cases[0].coreml_feeds
    timed: dict[str, float | None] = {}
    for name, program in (("fp16", None), ("auto", auto), ("fp32", None)):
        if name == "auto" and auto_is_fp16:
            continue
        try:
            if program is None:
                program = load_program(convert_again(result, name)[0].mlmodel)
            program.run(feeds)  # warm-up: kernels, caches
            samples = []
            for _ in range(runs):
                started = time.perf_counter()
                program.run(feeds)
                samples.append(time.perf_counter() - started)
            timed[f"rt_{name}"] = statistics.median(samples)
        except Exception:  # a program the runtime cannot run has no time, the row stays
            timed[f"rt_{name}"] = None
    return timed


HEADER = ["model", "fp16", "auto", "fp32 ops", "search s", "conversions",
          "runtime fp16 ms", "runtime auto ms", "runtime fp32 ms"]


def cells(name: str, row: dict[str, Any]) -> list[str]:
    if "error" in row:
        return [name, "error", row["error"][:60], "-", "-", "-", "-", "-", "-"]

    def ms(key: str) -> str:
        return "-" if row.get(key) is None else f"{row[key] * 1e3:.1f}"

    auto = f"{row['outcome']}: {row['auto']}"
    ops = {"mixed": f"{row['fp32_ops']} of {row['float_ops']}", "fp32": "all",
           "fp16": "0"}.get(row["outcome"], "-")
    searched = row["outcome"] != "fp16"
    return [name, row["fp16"], auto, ops, f"{row['search']:.1f}" if searched else "-",
            str(row["conversions"]) if searched else "-", ms("rt_fp16"),
            ms("rt_auto") if searched else "= fp16", ms("rt_fp32")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", action="store_true", help="the model zoo as well")
    parser.add_argument("--only", default="", help="comma-separated model names")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--random-inputs", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5, help="timed runtime runs per program")
    args = parser.parse_args(argv)

    import torch

    warnings.filterwarnings("ignore")
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    torch.set_num_threads(1)
    chosen = models(args.zoo or any(n.startswith("zoo: ") for n in args.only.split(",")))
    if args.only:
        wanted = set(args.only.split(","))
        chosen = {name: f for name, f in chosen.items() if name in wanted}
    total = time.perf_counter()
    lines = []
    for name, factory in chosen.items():
        try:
            row = measure(factory, args.random_inputs, args.runs)
        except Exception as error:  # one broken model must not cost the table
            from torchready.convert.coreml.errors import first_line

            row = {"error": f"{type(error).__name__}: {first_line(error)}"}
        lines.append(cells(name, row))
        detail = row.get("lines") or row.get("reason") or row.get("error") or ""
        print(f"  {name}: {' | '.join(lines[-1][1:4])}" + (f"  ({detail})" if detail else ""),
              file=sys.stderr)
    from parity_table import print_table

    print_table(HEADER, lines, markdown=args.markdown, left=("model", "fp16", "auto"),
                title="--precision auto: fp16 verdict, what auto kept, reference-runtime time "
                      "per example")
    print(f"{len(lines)} models, {time.perf_counter() - total:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
