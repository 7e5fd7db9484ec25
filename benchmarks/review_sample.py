"""Draw the precision review's samples from a `real_code_report.py --json` file.

    python benchmarks/real_code_report.py --target all --json findings.json
    python benchmarks/review_sample.py findings.json [--size 25 --seed 2026] [--group TR107:info]

The method of docs/precision_review.md: per group, the findings sorted by path/line/column and
`random.Random(seed).sample(findings, size)` (all of them when there are fewer), printed in the
drawn order with their source line. Groups:

* one per rule code (`TR205`), and per severity for rules that report two (`TR107:warning`);
* `TR103:new`: TR103's forms added by issue 13 (formatting, `len`, iterating, `torch.tensor`),
  told apart by their message text;
* `cross-file`: TR1xx findings in a helper reached from a forward of another file (the message
  says "(reached from X.forward via file:line)").
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

# Message prefixes of the TR103 forms issue 13 added (see tr103_tensor_to_python.py).
TR103_NEW = ("the f-string formats", "reads a tensor's first dimension", "iterates over the tensor",
             "builds a tensor from Python values")
CROSS_FILE = "(reached from "


def groups(findings: list[dict]) -> dict[str, list[dict]]:
    by_group: dict[str, list[dict]] = defaultdict(list)
    for finding in findings:
        code, message = finding["code"], finding["message"]
        by_group[code].append(finding)
        by_group[f"{code}:{finding['severity']}"].append(finding)
        if code == "TR103" and any(part in message for part in TR103_NEW):
            by_group["TR103:new"].append(finding)
        if code.startswith("TR1") and CROSS_FILE in message:
            by_group["cross-file"].append(finding)
    return by_group


def _key(finding: dict) -> tuple:
    return finding["path"], finding["line"], finding["column"]


def _root(path: str) -> str:
    marker = "/transformers/models/"
    return path.split(marker, 1)[1] if marker in path else path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json", type=Path)
    parser.add_argument("--size", type=int, default=25)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--group", action="append", help="groups to print (default: counts only)")
    args = parser.parse_args(argv)

    findings = json.loads(args.json.read_text())
    by_group = groups(findings)
    print(f"{'group':<16}{'findings':>9}{'files':>7}")
    for name in sorted(by_group):
        found = by_group[name]
        print(f"{name:<16}{len(found):>9}{len({f['path'] for f in found}):>7}")
    for name in args.group or ():
        found = sorted(by_group.get(name, []), key=_key)
        chosen = random.Random(args.seed).sample(found, min(args.size, len(found)))
        print(f"\n## {name}: {len(chosen)} of {len(found)}")
        for index, finding in enumerate(chosen):
            lines = Path(finding["path"]).read_text(encoding="utf-8").splitlines()
            source = lines[finding["line"] - 1].strip()
            print(f"{index:>2} {_root(finding['path'])}:{finding['line']}:{finding['column']} "
                  f"[{finding['severity']}] {source[:120]}\n   {finding['message'][:400]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
