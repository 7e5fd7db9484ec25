"""Capture targets: which of torch.jit.trace, torch.jit.script and torch.export the user means.

The hazards differ by capture: a branch on a tensor value is recorded once by trace, fails
export, and compiles fine under script; `**kwargs` in a forward breaks only script. Rules say
which targets their findings concern (`Rule.TARGETS`), and every diagnostic carries the targets
it concerns among those the user chose.

Chosen on the command line (`--target trace,script`), in `[tool.torchready]` (`target = [...]`),
or inferred from the linted code: the captures it calls itself (`torch.jit.script(model)`,
`torch.jit.trace`, `torch.export.export`, `to_coreml(..., mode="script")`), else trace and
export, the two ways a model reaches coremltools today. `@torch.jit.script` on a helper says
nothing about how the model is captured, so decorators do not count.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from torchready.lint.types import UsageError

TRACE, SCRIPT, EXPORT = "trace", "script", "export"
ALL_TARGETS = (TRACE, SCRIPT, EXPORT)
DEFAULT_TARGETS = (TRACE, EXPORT)
# Captures that run the model's Python code (and so share the tracing hazards).
PYTHON_RUNNING = frozenset({TRACE, EXPORT})

# Calls that capture a model, by the target they mean.
CAPTURE_CALLS = {
    "torch.jit.script": SCRIPT,
    "torch.jit.trace": TRACE,
    "torch.jit.trace_module": TRACE,
    "torch.export.export": EXPORT,
    "torch.export": EXPORT,
    "torch.export.draft_export": EXPORT,
    "torch.export.export_for_training": EXPORT,
}
# torchready's own API and spec objects name a capture mode.
MODE_CALLS = ("to_coreml", "audit", "ModelSpec")
MODES = {"trace": (TRACE,), "script": (SCRIPT,), "export": (EXPORT,),
         "hybrid": (TRACE, SCRIPT), "auto": DEFAULT_TARGETS}


def parse_targets(values: Iterable[str], origin: str) -> tuple[str, ...]:
    """`["trace", "script"]`, `["all"]` or comma-separated items -> targets in canonical order."""
    chosen: set[str] = set()
    for value in values:
        for item in value.split(","):
            item = item.strip().lower()
            if not item:
                continue
            if item == "all":
                chosen.update(ALL_TARGETS)
            elif item in ALL_TARGETS:
                chosen.add(item)
            else:
                raise UsageError(f"{origin}: unknown capture target '{item}' "
                                 "(choose from trace, script, export, all)")
    if not chosen:
        raise UsageError(f"{origin}: no capture target given "
                         "(choose from trace, script, export, all)")
    return canonical(chosen)


def canonical(targets: Iterable[str]) -> tuple[str, ...]:
    chosen = set(targets)
    return tuple(target for target in ALL_TARGETS if target in chosen)


def infer_targets(captures: Iterable[str]) -> tuple[str, ...]:
    """The targets the linted code captures itself, else the default."""
    found = canonical(captures)
    return found or DEFAULT_TARGETS


def describe(targets: Sequence[str]) -> str:
    return ", ".join(targets)
