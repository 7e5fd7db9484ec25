"""Lint throughput on a folder, next to TorchFix and ruff on the same files.

    python benchmarks/lint_speed.py [FOLDER] [--quick] [--no-compare] [--subset a-c]

FOLDER defaults to the installed transformers `models/` tree (2,597 files, 1.05M lines with
transformers 5.24). For each tool the script prints wall time, files/s, lines/s and the peak
resident memory of the whole process tree (the workers of a pool summed), then the ratios.

* torchready cold, 1 job and all jobs (`--no-cache`), and warm (second run on a filled cache);
* libcst's bare parse, in this process, for scale;
* TorchFix 0.7 (`torchfix --select ALL`, installed on first use in benchmarks/.venv-compare,
  because it pins libcst<1.6) and ruff (`ruff check --select ALL --no-cache`);
* warm with one file edited (a copy of the tree), a modeling file of median size and the
  largest: inside a function body, and adding a function (the project links again);
* the same edits with `--daemon` (the folder's lint daemon, started and warmed first, each
  file edited once untimed first, as in an editing session);
* single-file latency: `torchready lint` on one ~500-line model file, process start to exit
  (the pre-commit case), one-shot and `--daemon`.

Wall times on a shared machine follow its load; the CPU column (the process's own user+sys
seconds, without pool workers) is what to compare for one-job runs.

It prints numbers and asserts nothing: timings on a shared 2-core machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPARE_VENV = ROOT / "benchmarks" / ".venv-compare"
sys.path.insert(0, str(ROOT))

from benchmarks.corpus import count_lines, python_files, subset, transformers_models  # noqa: E402


@dataclass
class Measurement:
    name: str
    seconds: float
    peak_rss_mb: float
    # user+sys seconds of the process itself (not of pool workers, which are the forkserver's
    # children): comparable across runs on a busy machine for one-job runs
    cpu_seconds: float = 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="default: transformers/models")
    parser.add_argument("--subset", help="only model folders whose name starts with a letter in "
                                         "this range, e.g. a-c (the research notes' subset)")
    parser.add_argument("--no-compare", action="store_true", help="skip TorchFix and ruff")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--warm-only", action="store_true",
                        help="skip the cold runs: fill the cache once, then time the warm runs "
                             "and the edits (the full tree's cold runs take long)")
    args = parser.parse_args()

    folder = Path(args.folder).resolve() if args.folder else transformers_models()
    workdir = Path(tempfile.mkdtemp(prefix="torchready-bench-"))
    if args.subset:
        folder = subset(folder, args.subset, workdir / "subset")
    elif args.warm_only:
        # The edits below change files: with no cold runs, one copy serves every run (a second
        # copy would need its cache filled again, a whole cold run of the tree).
        folder = Path(shutil.copytree(folder, workdir / "tree"))
    files = python_files(folder)
    lines = count_lines(files)
    print(f"folder: {folder}\nfiles: {len(files)}  lines: {lines}  cores: {os.cpu_count()}\n")

    results: list[Measurement] = []
    torchready = [sys.executable, "-m", "torchready", "lint", "--exit-zero", "--format", "json"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if not args.warm_only:
        results.append(_run("torchready cold, 1 job",
                            [*torchready, "--no-cache", "-j", "1", str(folder)], workdir, env))
        results.append(_run(f"torchready cold, {args.jobs} jobs",
                            [*torchready, "--no-cache", "-j", str(args.jobs), str(folder)],
                            workdir, env))
    _run("(filling the cache)", [*torchready, "-j", str(args.jobs), str(folder)], workdir, env,
         quiet=True)
    results.append(_run("torchready warm (cache)",
                        [*torchready, "-j", str(args.jobs), str(folder)], workdir, env))
    jobs = [*torchready, "-j", str(args.jobs)]
    edited = folder if args.subset or args.warm_only else _warm_copy(folder, workdir, jobs, env)
    results += _edited_runs(edited, jobs, env)
    _run("(starting the daemon)", [*jobs, "--daemon", str(edited)], workdir, env, quiet=True)
    results += _edited_runs(edited, [*jobs, "--daemon"], env, " --daemon", edited_before=True)
    _stop_daemon(workdir, env)
    results.append(Measurement("libcst parse only (in process)", _parse_time(files), 0.0))
    if not args.no_compare:
        tools = _compare_tools()
        results.append(_run("TorchFix 0.7 --select ALL, 1 job",
                            [tools / "torchfix", "--select", "ALL", "-j", "1", str(folder)],
                            workdir, env))
        results.append(_run(f"TorchFix 0.7 --select ALL, {args.jobs} jobs",
                            [tools / "torchfix", "--select", "ALL", "-j", str(args.jobs),
                             str(folder)], workdir, env))
        results.append(_run("ruff check --select ALL --no-cache",
                            [tools / "ruff", "check", "--select", "ALL", "--no-cache",
                             "--exit-zero", "--quiet", str(folder)], workdir, env))

    print(f"{'tool':52} {'wall s':>8} {'cpu s':>8} {'files/s':>9} {'lines/s':>10} "
          f"{'peak RSS MB':>12}")
    for m in results:
        print(f"{m.name:52} {m.seconds:8.2f} {m.cpu_seconds:8.2f} {len(files) / m.seconds:9.1f} "
              f"{lines / m.seconds:10.0f} {m.peak_rss_mb:12.0f}")
    by_name = {m.name: m.seconds for m in results}
    cold1 = by_name.get("torchready cold, 1 job")
    cold_n = by_name.get(f"torchready cold, {args.jobs} jobs")
    warm = by_name["torchready warm (cache)"]
    if cold1 and cold_n:
        print(f"\n{args.jobs} jobs vs 1 job: {cold1 / cold_n:.2f}x    "
              f"warm vs cold: {cold_n / warm:.1f}x")
    if cold1 and "TorchFix 0.7 --select ALL, 1 job" in by_name:
        print(f"torchready vs TorchFix, 1 job: {by_name['TorchFix 0.7 --select ALL, 1 job'] / cold1:.2f}x"
              f"    {args.jobs} jobs: "
              f"{by_name[f'TorchFix 0.7 --select ALL, {args.jobs} jobs'] / cold_n:.2f}x")
    print(f"\nsingle-file latency: {_single_file_latency(workdir, env):.3f} s one-shot, "
          f"{_single_file_latency(workdir, env, daemon=True):.3f} s --daemon (medians of 7)")
    _stop_daemon(workdir, env)
    shutil.rmtree(workdir, ignore_errors=True)


def _run(name: str, command, cwd: Path, env, quiet: bool = False) -> Measurement:
    start = time.perf_counter()
    process = subprocess.Popen([str(part) for part in command], cwd=cwd, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak, cpu = _watch_memory(process)
    seconds = time.perf_counter() - start
    if not quiet:
        print(f"  {name}: {seconds:.2f} s (cpu {cpu:.2f} s), exit {process.returncode}",
              flush=True)
    return Measurement(name, seconds, peak, cpu)


def _warm_copy(folder: Path, workdir: Path, torchready: list, env) -> Path:
    """A copy of a tree the benchmark must not change (site-packages), its cache filled."""
    copy = Path(shutil.copytree(folder, workdir / "edited"))
    _run("(filling the cache of the copy)", [*torchready, str(copy)], workdir, env, quiet=True)
    return copy


def _edited_runs(tree: Path, torchready: list, env, label: str = "",
                 edited_before: bool = False) -> list[Measurement]:
    """Warm runs on a tree whose cache is filled, after editing a modeling file of median size
    and then the largest: inside a function body (a line added: its summary moves lines only,
    so only that file is analysed again), and adding a function (its summary changes: the
    project links again). `edited_before`: edit each file once untimed first (a daemon keeps
    the statements of the files it analysed; the first edit after its start parses whole)."""
    workdir = tree.parent
    models = sorted(tree.rglob("modeling_*.py"), key=lambda path: path.stat().st_size)
    measurements = []
    for size, target in (("median", models[len(models) // 2]), ("largest", models[-1])):
        lines = target.read_text().count("\n")
        if edited_before:
            _edit_a_body(target)
            _run("(a first edit)", [*torchready, str(tree)], workdir, env, quiet=True)
        _edit_a_body(target)
        measurements.append(_run(f"warm, {size} file edited ({lines} lines), body{label}",
                                 [*torchready, str(tree)], workdir, env))
        helper = f"_added_helper_{time.monotonic_ns()}"  # a new name on every edit
        target.write_text(target.read_text() + f"\n\ndef {helper}(x):\n    return x * 2\n")
        measurements.append(_run(f"warm, {size} file edited, relink{label}",
                                 [*torchready, str(tree)], workdir, env))
    return measurements


def _edit_a_body(target: Path) -> None:
    source = target.read_text()
    first = source.index("\n        return ")
    target.write_text(source[:first] + "\n        pass" + source[first:])


def _stop_daemon(workdir: Path, env) -> None:
    subprocess.run([sys.executable, "-m", "torchready", "daemon", "stop"], cwd=workdir, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def _watch_memory(process: subprocess.Popen) -> tuple[float, float]:
    """Peak of the summed RSS of the process and all its descendants, sampled every 50 ms, and
    the process's own CPU seconds."""
    peak = 0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid == process.pid:
            process.returncode = os.waitstatus_to_exitcode(status)
            return peak / 1024, usage.ru_utime + usage.ru_stime
        peak = max(peak, sum(_rss_kb(pid) for pid in _tree(process.pid)))
        time.sleep(0.05)


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _parse_time(files: list[Path]) -> float:
    import libcst as cst

    start = time.perf_counter()
    for path in files:
        try:
            cst.parse_module(path.read_text(encoding="utf-8"))
        except (cst.ParserSyntaxError, UnicodeDecodeError):
            pass
    return time.perf_counter() - start


def _compare_tools() -> Path:
    bin_dir = COMPARE_VENV / "bin"
    if not (bin_dir / "torchfix").exists() or not (bin_dir / "ruff").exists():
        print("installing TorchFix 0.7.0 and ruff into benchmarks/.venv-compare ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(COMPARE_VENV)], check=True)
        subprocess.run([bin_dir / "python", "-m", "pip", "install", "--quiet", "torchfix==0.7.0",
                        "ruff"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return bin_dir


def _single_file_latency(workdir: Path, env, daemon: bool = False) -> float:
    model = _five_hundred_line_model(workdir)
    command = [sys.executable, "-m", "torchready", "lint", "--exit-zero", str(model)]
    if daemon:
        command.append("--daemon")
        subprocess.run(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)  # starts it
    times = []
    for run in range(7):
        model.write_text(model.read_text() + f"# edit {run}\n")  # so no cache can answer
        start = time.perf_counter()
        subprocess.run(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _five_hundred_line_model(workdir: Path) -> Path:
    """A real modeling file cut to its first ~500 lines at a top-level boundary."""
    source = (transformers_models() / "gpt2" / "modeling_gpt2.py").read_text().splitlines()
    cut = 500
    while cut < len(source) and source[cut][:1] not in ("", "c", "d", "@"):
        cut += 1
    path = workdir / "model.py"
    path.write_text("\n".join(source[:cut]) + "\n")
    return path


if __name__ == "__main__":
    main()
