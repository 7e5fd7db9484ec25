"""Dynamic ground truth for `torchready lint`: where real model code breaks a capture, found by
running it, as `file:line:kind`.

    nice python benchmarks/lint_truth.py                # every model (cached ones are reused)
    nice python benchmarks/lint_truth.py llama swin     # some models: print their lines only
    python benchmarks/lint_truth.py --list              # the models and their cache state
    python benchmarks/lint_truth.py --refresh [MODEL ...]

Each model of `lint_truth_models.py` (transformers architectures from tiny configs with random
weights, and the repository's fixtures) runs through every probe of `lint_truth_probes.py` in a
process of its own: trace at two input sizes, the trace's divergence at the second size,
torch.jit.script, torch.export and ct.convert. Its events are cached in
benchmarks/.lint_truth_cache/, keyed by the content of the model's package folder (or fixture
file), the model's entry, the probes' source and the versions of Python, torch, transformers,
coremltools and NumPy: a cached model is only re-run when one of those changes.

With every model selected, the merged truth set is written to benchmarks/data/lint_truth.json
(one entry per file, line and kind, with the models and probes that saw it), which
`lint_truth_score.py` scores `torchready lint` against without running any model.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.metadata
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from lint_truth_models import MODELS, SIZES, TruthModel, by_name  # noqa: E402

CACHE = HERE / ".lint_truth_cache"
TRUTH = HERE / "data" / "lint_truth.json"
# The code that turns a run into events: a change in any of it (or in the torchready modules it
# imports) re-runs every model.
PROBES = (HERE / "lint_truth_probes.py", HERE / "lint_truth_divergence.py",
          HERE / "lint_truth_events.py")
PACKAGE_FOLDERS = {"torchready.lint": ROOT / "lint", "torchready.convert": ROOT / "convert",
                   "torchready": ROOT / "torchready"}
VERSIONED = ("torch", "transformers", "coremltools", "numpy")
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")
TIMEOUT = 1800  # seconds per model; swin-sized models take a few minutes on a busy machine


def package_root(package: str) -> Path | None:
    """Where an installed package (or the repository's fixtures/) lives, without importing it."""
    if package == "fixtures":
        return ROOT / "fixtures"
    spec = importlib.util.find_spec(package)
    return Path(spec.origin).parent if spec is not None and spec.origin else None


def resolve(relative: str) -> Path | None:
    """The file a truth path names: "transformers/models/..." or "fixtures/...". """
    package, _, rest = relative.partition("/")
    root = package_root(package)
    return root / rest if root is not None else None


_MODEL_FOLDERS: dict[str, Path] = {}


def model_folder(model_class: str) -> Path | None:
    """The transformers folder that defines `model_class` (read, not imported: no torch)."""
    if not _MODEL_FOLDERS:
        models = package_root("transformers")
        for path in sorted((models / "models").glob("*/modeling_*.py")) if models else ():
            text = path.read_text(encoding="utf-8", errors="replace")
            for line in text.splitlines():
                if line.startswith("class "):
                    _MODEL_FOLDERS.setdefault(line[6:].split("(")[0].split(":")[0], path.parent)
    return _MODEL_FOLDERS.get(model_class)


def _digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for package in VERSIONED:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "missing"
    return found


def cache_key(model: TruthModel) -> str:
    if model.is_fixture:
        files = [ROOT / "fixtures" / model.spec["fixture"]]
    else:
        folder = model_folder(model.spec["model_class"])
        files = sorted(folder.glob("*.py")) if folder else []
    described = {
        "model": model.spec, "options": model.options, "sizes": SIZES,
        "inputs": f"{model.inputs.__module__}.{model.inputs.__qualname__}",
        "inputs_source": _source_of(model.inputs), "versions": versions(),
        "code": _digest(files), "probes": _probes_digest(),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def _probes_digest() -> str:
    return _digest(probe_files())


def probe_files() -> list[Path]:
    """The probes and every torchready module they import, directly or not (read, not run)."""
    import ast

    found: dict[Path, None] = {}
    pending = list(PROBES)
    while pending:
        path = pending.pop()
        if path in found:
            continue
        found[path] = None
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                pending.extend(_module_files(node.module))
                # `from package import submodule`
                pending.extend(file for alias in node.names
                               for file in _module_files(f"{node.module}.{alias.name}"))
    return sorted(found)


def _module_files(module: str) -> list[Path]:
    for prefix, folder in PACKAGE_FOLDERS.items():
        if module == prefix or module.startswith(prefix + "."):
            base = folder.joinpath(*module[len(prefix):].lstrip(".").split("."))
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    return [candidate]
            return []
    return []


def _source_of(function: Any) -> str:
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return ""


def cache_file(model: TruthModel, key: str) -> Path:
    return CACHE / f"{_safe_name(model)}-{key[:16]}.json"


def _safe_name(model: TruthModel) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in model.name)


def stale_files(model: TruthModel) -> list[Path]:
    """The model's records and logs under any key (not another model's whose name it starts)."""
    pattern = re.compile(re.escape(_safe_name(model)) + r"-[0-9a-f]{16}\.(json|log)")
    return [path for path in CACHE.glob("*") if pattern.fullmatch(path.name)]


def collect_in_process(name: str, output: Path) -> None:
    """The `--collect-one` side: run every probe on one model and write its record."""
    from lint_truth_probes import collect

    model = by_name(name)
    started = time.perf_counter()
    record = collect(model)
    record.update(model=model.name, family=model.family,
                  seconds_total=round(time.perf_counter() - started, 1))
    output.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


def collect_model(model: TruthModel, refresh: bool, timeout: int) -> dict[str, Any]:
    """The model's record: from the cache, or from a fresh process running every probe."""
    key = cache_key(model)
    path = cache_file(model, key)
    if path.exists() and not refresh:
        record = json.loads(path.read_text(encoding="utf-8"))
        record["cached"] = True
        return record
    CACHE.mkdir(exist_ok=True)
    for stale in stale_files(model):
        stale.unlink()
    log = path.with_suffix(".log")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as stream:
        try:
            finished = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--collect-one", model.name,
                 "--write", str(path)], stdout=stream, stderr=subprocess.STDOUT, env=env,
                timeout=timeout, check=False)
            code = finished.returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    seconds = round(time.perf_counter() - started, 1)
    if code != 0 or not path.exists():
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        return {"model": model.name, "family": model.family, "failed": f"exit {code}",
                "log_tail": tail, "events": [], "unlocated": [], "seconds_wall": seconds}
    record = json.loads(path.read_text(encoding="utf-8"))
    record["seconds_wall"] = seconds
    path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    record["cached"] = False
    return record


def merge(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per (file, line, kind) over every model's events."""
    merged: dict[tuple[str, int, str], dict[str, Any]] = {}
    for record in records:
        for event in record["events"]:
            key = (event["path"], event["line"], event["kind"])
            entry = merged.setdefault(key, {
                "path": event["path"], "line": event["line"], "kind": event["kind"],
                "subjects": set(), "models": set(), "probes": set(), "via": set(),
                # without object addresses, so that a re-collection writes the same file
                "message": _ADDRESS.sub("", event["message"])})
            entry["subjects"].add(event["subject"])
            entry["models"].add(record["model"])
            entry["probes"].add(event["probe"].split(":")[0])
            if event.get("via"):
                entry["via"].add(event["via"])
    entries = []
    for key in sorted(merged):
        entry = merged[key]
        for field in ("subjects", "models", "probes", "via"):
            entry[field] = sorted(entry[field])
        if not entry["via"]:
            del entry["via"]
        entry["source"] = source_line(entry["path"], entry["line"])
        entries.append(entry)
    return entries


def source_line(relative: str, line: int) -> str:
    path = resolve(relative)
    try:
        return path.read_text(encoding="utf-8").splitlines()[line - 1].strip() if path else ""
    except (OSError, IndexError):
        return ""


def truth_document(records: list[dict[str, Any]]) -> dict[str, Any]:
    entries = merge(records)
    kinds: dict[str, int] = {}
    for entry in entries:
        kinds[entry["kind"]] = kinds.get(entry["kind"], 0) + 1
    return {
        "version": 1,
        "generated_by": "benchmarks/lint_truth.py",
        "environment": versions(),
        # Wall seconds of collecting every model from scratch (each model's own process, as
        # recorded when it was collected; cached models cost nothing on a re-run).
        "collection_seconds_cold": round(sum(r.get("seconds_wall", 0) for r in records), 1),
        "models": [{key: record.get(key) for key in
                    ("model", "family", "status", "inputs", "seconds", "seconds_total", "failed")
                    if record.get(key) is not None}
                   | {"events": len(record["events"]), "unlocated": len(record["unlocated"])}
                   for record in records],
        "counts": {"lines": len(entries), "files": len({e["path"] for e in entries}),
                   "by_kind": dict(sorted(kinds.items()))},
        "truth": entries,
        "unlocated": [dict(item, model=record["model"], message=_ADDRESS.sub("", item["message"]))
                      for record in records for item in record["unlocated"]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="model names (default: all)")
    parser.add_argument("--list", action="store_true", help="list the models and exit")
    parser.add_argument("--refresh", action="store_true", help="re-run cached models too")
    parser.add_argument("--output", type=Path,
                        help=f"truth file to write (default with all models: {TRUTH})")
    parser.add_argument("--timeout", type=int, default=TIMEOUT, help="seconds per model")
    parser.add_argument("--collect-one", metavar="MODEL", help=argparse.SUPPRESS)
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.collect_one:
        collect_in_process(args.collect_one, args.write)
        return 0
    try:
        selected = [by_name(name) for name in args.models] if args.models else list(MODELS)
    except KeyError as error:
        print(f"lint_truth: {error.args[0]}", file=sys.stderr)
        return 2
    if args.list:
        for model in selected:
            cached = cache_file(model, cache_key(model)).exists()
            print(f"{model.name:28s} {'cached' if cached else 'to collect':11s} {model.family}")
        return 0
    output = args.output or (None if args.models else TRUTH)
    started = time.perf_counter()
    records = []
    for model in selected:
        record = collect_model(model, args.refresh, args.timeout)
        records.append(record)
        origin = "cached" if record.get("cached") else f"{record.get('seconds_wall', 0):.0f} s"
        state = record.get("failed") or f"{len(record['events'])} events, " \
                                        f"{len(record['unlocated'])} unlocated"
        print(f"{model.name:28s} {origin:>8s}  {state}", flush=True)
    document = truth_document(records)
    print(f"\n{document['counts']['lines']} truth lines in {document['counts']['files']} files; "
          f"{len(document['unlocated'])} unlocated events; {time.perf_counter() - started:.0f} s "
          f"(cold: {document['collection_seconds_cold']:.0f} s)")
    for kind, count in document["counts"]["by_kind"].items():
        print(f"  {kind:24s} {count:5d}")
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {output}")
    else:
        for entry in document["truth"]:
            print(f"{entry['path']}:{entry['line']}:{entry['kind']}  {entry['source'][:80]}")
    return 1 if any(record.get("failed") for record in records) else 0


if __name__ == "__main__":
    sys.exit(main())
