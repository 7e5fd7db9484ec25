"""Per-rule finding counts of `torchready lint` over real model source trees.

    python benchmarks/real_code_report.py                     # installed transformers' models/
    python benchmarks/real_code_report.py PATH... [--sample 20 --seed 0] [--json out.json]
                                          [--target all]

With no PATH it lints the `models/` folder of the installed transformers (and timm's `models/`
when timm is installed). `--sample N` also prints N findings per rule, drawn with a fixed seed,
with the source line: the material of the precision review (docs/precision_review.md).
The linter never imports the code it reads; this script only asks importlib where the packages
live.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from torchready.lint.api import lint_paths  # noqa: E402
from torchready.lint.rules import all_rules  # noqa: E402

DEFAULT_PACKAGES = ("transformers", "timm")


def default_trees() -> list[Path]:
    trees = []
    for package in DEFAULT_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        models = Path(next(iter(spec.submodule_search_locations))) / "models"
        if models.is_dir():
            trees.append(models)
    return trees


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--select", help="comma-separated codes or prefixes")
    parser.add_argument("--sample", type=int, default=0, help="findings to print per rule")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--json", type=Path, help="write every finding to this file")
    parser.add_argument("--target", help="capture targets, as `torchready lint --target` "
                                         "(`all` adds the script rules on every forward)")
    args = parser.parse_args(argv)

    trees = args.paths or default_trees()
    if not trees:
        print("no model trees found (install transformers, or pass paths)", file=sys.stderr)
        return 2
    select = args.select.split(",") if args.select else None
    everything = []
    for tree in trees:
        started = time.perf_counter()
        run = lint_paths([str(tree)], select=select, jobs=args.jobs, cache=False,
                         targets=[args.target] if args.target else None)
        seconds = time.perf_counter() - started
        diagnostics = run.diagnostics
        counts = Counter(d.code for d in diagnostics)
        files = defaultdict(set)
        for d in diagnostics:
            files[d.code].add(d.path)
        print(f"# {tree}  ({len(run.files)} files, {seconds:.0f} s)")
        print(f"{'code':<7}{'name':<34}{'findings':>9}{'files':>7}")
        for rule in all_rules():
            if select and not any(rule.CODE.startswith(s.upper()) for s in select):
                continue
            print(f"{rule.CODE:<7}{rule.NAME:<34}{counts[rule.CODE]:>9}{len(files[rule.CODE]):>7}")
        print(f"{'':<7}{'total':<34}{sum(counts.values()):>9}")
        if args.sample:
            _print_samples(diagnostics, tree, args.sample, args.seed)
        everything.extend(diagnostics)
    if args.json:
        args.json.write_text(json.dumps([d.to_json() for d in everything], indent=1))
    return 0


def _print_samples(diagnostics, tree: Path, size: int, seed: int) -> None:
    by_code = defaultdict(list)
    for d in diagnostics:
        by_code[d.code].append(d)
    for code, found in sorted(by_code.items()):
        chosen = random.Random(seed).sample(found, min(size, len(found)))
        print(f"\n## {code}: {len(chosen)} of {len(found)}")
        for d in sorted(chosen, key=lambda d: d.sort_key):
            line = Path(d.path).read_text(encoding="utf-8").splitlines()[d.line - 1].strip()
            print(f"{Path(d.path).relative_to(tree)}:{d.line}: {line[:110]}")


if __name__ == "__main__":
    sys.exit(main())
