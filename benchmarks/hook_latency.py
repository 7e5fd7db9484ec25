"""Latency of the pre-commit hook on a commit that touches one model file.

    .venv/bin/python benchmarks/hook_latency.py [--runs 7]

Builds a throwaway git repository holding one model (fixtures/attention.py as model.py) and a
`.pre-commit-config.yaml` that uses this checkout's `torchready` hook, lets the real pre-commit
install the hook environment (timed separately: it happens once per user and hook version),
then times, per run, after editing model.py so no result cache can answer:

* `pre-commit run torchready --files model.py`: what a commit waits for;
* `torchready lint model.py` with the hook environment's console script: the hook alone;
* the same with `--daemon` (`args: [--daemon]`), its daemon started before the first run;
* `torchready lint model.py` with the interpreter running this script (this checkout).

Prints the median, min and max wall time of each. Needs network access to PyPI the first time
(pre-commit pip-installs torchready's dependencies into the hook environment).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lint"))

from precommit_repos import (  # noqa: E402
    ROOT, consumer_repo, hook_python, hook_source, pre_commit, pre_commit_env, write_config,
)


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - started, result.returncode


def touch(model: Path, run: int) -> None:
    """Edit the model the way a commit does, so the lint result cache cannot answer."""
    model.write_text(model.read_text(encoding="utf-8") + f"# edit {run}\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="torchready-hook-latency-") as scratch_name:
        scratch = Path(scratch_name)
        repo, rev, snapshot = hook_source(scratch)
        home = scratch / "pre-commit-home"
        model_text = (ROOT / "fixtures" / "attention.py").read_text(encoding="utf-8")
        consumer = consumer_repo(scratch / "consumer", {"model.py": model_text})
        write_config(consumer, repo, rev, "torchready")
        env = pre_commit_env(home)

        started = time.perf_counter()
        installed = pre_commit("install-hooks", cwd=consumer, home=home)
        install_seconds = time.perf_counter() - started
        if installed.returncode != 0:
            print(installed.stdout + installed.stderr, file=sys.stderr)
            return 1
        hook_torchready = hook_python(home).parent / "torchready"
        model = consumer / "model.py"
        commands = {
            "pre-commit run torchready --files model.py":
                [sys.executable, "-m", "pre_commit", "run", "torchready", "--files", "model.py"],
            "torchready lint model.py (hook environment)": [str(hook_torchready), "lint",
                                                            "model.py"],
            "torchready lint --daemon model.py (hook env.)": [str(hook_torchready), "lint",
                                                              "--daemon", "model.py"],
            "torchready lint model.py (this checkout)": [sys.executable, "-m", "torchready",
                                                         "lint", "model.py"],
        }
        subprocess.run([str(hook_torchready), "daemon", "start"], cwd=consumer, env=env,
                       capture_output=True, check=True)
        checkout_env = dict(env, PYTHONPATH=str(ROOT))
        timings: dict[str, list[float]] = {name: [] for name in commands}
        for run in range(args.runs):
            for name, command in commands.items():
                touch(model, run)
                seconds, returncode = timed(command, consumer,
                                            checkout_env if "checkout" in name else env)
                assert returncode == 1, f"{name}: expected the finding (exit 1), got {returncode}"
                timings[name].append(seconds)
        subprocess.run([str(hook_torchready), "daemon", "stop"], cwd=consumer, env=env,
                       capture_output=True)

    source = f"snapshot of this work tree ({rev[:12]})" if snapshot else f"{repo} at {rev[:12]}"
    print(f"hook repository: {source}")
    print(f"python {sys.version.split()[0]}, {args.runs} runs, model: fixtures/attention.py "
          "(one TR102 finding), edited before every run")
    print(f"{'first run (hook environment install)':<48} {install_seconds:8.2f} s")
    for name, values in timings.items():
        print(f"{name:<48} median {statistics.median(values):6.3f} s   "
              f"min {min(values):6.3f} s   max {max(values):6.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
