"""The parity table: every model of the parity set, converted at fp16 and at fp32, checked.

    python benchmarks/parity_table.py [--markdown] [--random-inputs 3] [--only gpt2,vit]

Models: the talk's two demos (the DeepLab-like segmentation with ImageNet preprocessing and the
scripted GPT-2 generation loop, compared token by token) and the tiny-config transformers /
torch models of `fixtures/parity_zoo.py` (random weights, never from_pretrained), then two negative
controls that parity must fail (their first divergence is printed on stderr). Each model goes
through torchready's pipeline (`torchready.to_coreml`, in memory), whose parity stage compares eager
PyTorch with the converted model on torchready's MIL reference runtime, on the example and
random inputs. Per precision the table shows the worst PSNR and max abs error over every output
and input (over the positions where both sides are finite; token outputs: the share of equal
tokens) and the verdict, with the metrics that failed.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "fixtures"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def demos() -> dict:
    import gpt2_completion
    import segmentation

    def seg():
        from torchready import ModelSpec

        module, inputs = segmentation.build()
        return ModelSpec(module, inputs, imagenet=True, class_labels=segmentation.VOC_LABELS)

    return {"segmentation (demo)": seg, "gpt2 loop (demo)": gpt2_completion.build}


def models() -> dict:
    import parity_zoo

    # Negative controls: parity must fail these (fp16 overflow at fp16 only; MIL inverse's
    # epsilon at both precisions).
    controls = {"control: x * 1e5 (fp16 overflow)": parity_zoo.large_scale,
                "control: 1 / x (MIL inverse)": parity_zoo.reciprocal}
    return {**demos(), **parity_zoo.MODELS, **controls}


def check(factory, precision: str, random_inputs: int):
    from torchready import to_coreml
    from torchready.convert.parity.engine import ParityOptions
    from torchready.convert.parity.report import REFERENCE
    from torchready import ModelSpec

    built = factory()
    spec = built if isinstance(built, ModelSpec) else ModelSpec(built[0], tuple(built[1]))
    started = time.perf_counter()
    result = to_coreml(spec, lint=False, compute_precision=precision,
                       parity_options=ParityOptions(random_inputs=random_inputs))
    report = result.parity  # the pipeline's parity stage (also there when parity failed)
    if report is None:
        return {"error": f"{result.failed_stage}: {result.error}"}
    rows = [row for row in report.rows if row.target == REFERENCE]
    floats = [row for row in rows if row.exact is None]
    exact = [row.exact for row in rows if row.exact is not None]
    return {
        "outputs": [row.output for row in rows],
        "psnr": min((row.psnr_db for row in floats), default=None),
        "max_abs": max((row.max_abs for row in floats), default=None),
        "argmax": min((row.argmax for row in floats if row.argmax is not None), default=None),
        "exact": min(exact) if exact else None,
        "status": report.status,
        "failed": sorted({problem.split(" ", 1)[0] for row in rows if row.status == "fail"
                          for problem in row.problems if " failed " in problem}),
        "torchscript": next((r.status for r in report.rows if r.target != REFERENCE), "-"),
        "cases": len(report.cases),
        "seconds": time.perf_counter() - started,
        "headline": report.divergence.headline() if report.divergence else "",
    }


def _cell(entry: dict) -> tuple[str, str]:
    if "error" in entry:
        return "error", "-"
    if entry["exact"] is not None and entry["psnr"] is None:
        return f"{entry['exact']:.0%} tokens", "-"
    psnr = entry["psnr"]
    shown = "inf" if psnr is not None and math.isinf(psnr) else f"{psnr:.1f}"
    return shown, f"{entry['max_abs']:.2g}"


def _verdict(entry: dict) -> str:
    """pass / warn / fail, with the metrics that failed (PSNR is over finite values only)."""
    status = entry.get("status", "error")
    failed = entry.get("failed") or []
    return f"{status} ({', '.join(failed)})" if status == "fail" and failed else status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--random-inputs", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated model names")
    args = parser.parse_args(argv)

    import torch

    warnings.filterwarnings("ignore")
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    torch.set_num_threads(1)
    chosen = models()
    if args.only:
        wanted = set(args.only.split(","))
        chosen = {name: f for name, f in chosen.items() if name in wanted}
    header = ["model", "outputs", "fp16 worst PSNR dB", "fp16 max abs", "fp16 verdict",
              "fp32 worst PSNR dB", "fp32 max abs", "fp32 verdict", "argmax (fp16)",
              "TorchScript", "seconds"]
    lines = []
    total = time.perf_counter()
    for name, factory in chosen.items():
        fp16 = check(factory, "fp16", args.random_inputs)
        fp32 = check(factory, "fp32", args.random_inputs)
        psnr16, abs16 = _cell(fp16)
        psnr32, abs32 = _cell(fp32)
        argmax = fp16.get("argmax")
        lines.append([name, ", ".join(fp16.get("outputs", [])), psnr16, abs16, _verdict(fp16),
                      psnr32, abs32, _verdict(fp32),
                      f"{argmax:.2%}" if argmax is not None else "-",
                      fp16.get("torchscript", "-"),
                      f"{fp16.get('seconds', 0) + fp32.get('seconds', 0):.1f}"])
        for entry in (fp16, fp32):
            if entry.get("error") or entry.get("headline"):
                print(f"  {name}: {entry.get('error') or entry['headline']}", file=sys.stderr)
    elapsed = time.perf_counter() - total
    print_table(header, lines, markdown=args.markdown, left=("model", "outputs"),
                title=f"Parity: eager PyTorch vs the converted model on torchready's MIL "
                      f"reference runtime ({args.random_inputs} random inputs + example)")
    print(f"{len(lines)} models, {elapsed:.1f}s (convert + parity at fp16 and fp32)")
    return 0


def print_table(header: list[str], lines: list[list[str]], *, markdown: bool, title: str,
                left: tuple[str, ...]) -> None:
    """A Markdown table (for docs/), or a rich one for the terminal, `left` columns left-aligned."""
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in header:
        table.add_column(column, justify="left" if column in left else "right")
    for line in lines:
        table.add_row(*line)
    Console(width=160).print(table)


if __name__ == "__main__":
    raise SystemExit(main())
