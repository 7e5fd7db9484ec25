"""Where a trace taken at one input size goes wrong at another: frozen constants and decisions.

The trace taken at size "a" is run on the "b" inputs and compared with eager at "b". When they
differ (or the trace cannot run), two kinds of lines are to blame, and both are found by running
the model, not by reading it:

* frozen values: lines where the traces at "a" and "b" recorded the same ops with different
  constants (a size turned into a Python number, then baked in);
* changed decisions: `if`/`for`/`while` statements of the model's code whose outcome differs
  between eager runs at "a" and "b". A Python line tracer counts how often each statement's
  header and the first line of its body ran: a loop whose body runs a different number of times
  per entry, or a branch taken in a different share of its visits, decided differently. The
  tracer cannot see that in a trace: `for i in range(seq_len)` unrolls without any
  TracerWarning. Decisions inside one line (ternaries, comprehensions) are not visible at line
  granularity.
"""

from __future__ import annotations

import ast
import functools
import sys
from collections import Counter
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from lint_truth_events import Event, ModelCode, Recorder, Unlocated, first_line


def divergence(traced_a: Any, run_a: Callable[[], Any], run_b: Callable[[], Any],
               eager_b: tuple, traced_b: Any, example_b: tuple, recorder: Recorder) -> str:
    """Record the lines behind a divergence of the trace at "a" when run at "b"; `run_a`/`run_b`
    run the model eagerly. Returns the probe's status."""
    import torch

    try:
        with torch.no_grad():
            got = traced_a(*example_b)
        problem = outputs_differ(eager_b, tuple(got))
    except Exception as error:  # noqa: BLE001 - a trace that cannot run at "b" diverges too
        problem = f"fails at b: {first_line(error)}"
    if problem is None:
        return "same"
    frozen = frozen_constants(traced_a, traced_b, recorder.code)
    for (path, line), (before, after) in frozen.items():
        recorder.events.append(Event(path, line, "trace_divergence", "constant", "divergence",
                                     f"{problem}; the trace at a holds {', '.join(before)} "
                                     f"where the trace at b holds {', '.join(after)}"[:300]))
    decisions = changed_decisions(run_a, run_b, recorder.code)
    for (path, line), (subject, before, after) in decisions.items():
        recorder.events.append(Event(path, line, "trace_divergence", subject, "divergence",
                                     f"{problem}; this {subject} decides differently at b "
                                     f"(body runs {before} per visit at a, {after} at b)"[:300]))
    if not frozen and not decisions:
        recorder.unlocated.append(Unlocated("trace_divergence", "divergence", problem,
                                            "no frozen constant and no statement whose outcome "
                                            "changes between the sizes"))
    return f"diverges ({problem}); {len(frozen)} frozen constants, {len(decisions)} decisions"


def outputs_differ(expected: tuple, actual: tuple) -> str | None:
    """Why two output tuples differ, or None when they match."""
    import torch

    if len(expected) != len(actual):
        return f"{len(actual)} outputs instead of {len(expected)}"
    for index, (want, got) in enumerate(zip(expected, actual)):
        if want.shape != got.shape:
            return f"output {index} has shape {tuple(got.shape)} instead of {tuple(want.shape)}"
        if want.dtype.is_floating_point:
            close = torch.allclose(want, got.to(want.dtype), rtol=1e-3, atol=1e-4,
                                   equal_nan=True)
        else:
            close = torch.equal(want, got.to(want.dtype))
        if not close:
            return f"output {index} differs (max |diff| {_max_difference(want, got):.3g})"
    return None


def _max_difference(want: Any, got: Any) -> float:
    difference = (want.double() - got.double()).abs()
    return float(difference.nan_to_num(0.0).max()) if difference.numel() else 0.0


# --- frozen constants ----------------------------------------------------------------------------


def _line_signatures(graph: Any, code: ModelCode) -> dict[tuple[str, int], Counter]:
    """Per model line: the node kinds and constant values the trace recorded there."""
    from torchready.convert.capture.graph_lines import describe_constant
    from torchready.convert.source_lines import frames_of_node, iter_nodes

    lines: dict[tuple[str, int], Counter] = {}
    for node in iter_nodes(graph):
        located = code.innermost(frames_of_node(node))
        if located is None:
            continue
        kind = node.kind()
        value = describe_constant(node)[0] if kind == "prim::Constant" else None
        lines.setdefault(located, Counter())[(kind, repr(value))] += 1
    return lines


def frozen_constants(traced_a: Any, traced_b: Any, code: ModelCode
                     ) -> dict[tuple[str, int], tuple[list[str], list[str]]]:
    """Lines where both traces ran the same ops with different constants: {line: (constants
    only at "a", constants only at "b")}. Lines whose ops differ took another path; the
    decision that chose it is found by `changed_decisions`."""
    lines_a = _line_signatures(traced_a.inlined_graph, code)
    lines_b = _line_signatures(traced_b.inlined_graph, code)
    frozen = {}
    for line in sorted(set(lines_a) & set(lines_b)):
        a, b = lines_a[line], lines_b[line]
        if a != b and _ops(a) == _ops(b):
            frozen[line] = (sorted(value for _, value in a - b), sorted(value for _, value in b - a))
    return frozen


def _ops(signature: Counter) -> Counter:
    ops: Counter = Counter()
    for (kind, _), count in signature.items():
        ops[kind] += count
    return ops


# --- changed decisions ---------------------------------------------------------------------------


def line_counts(run: Callable[[], Any], code: ModelCode) -> Counter:
    """How often each line of the model's code ran during `run()` (a Python line tracer that only
    follows frames of the model's code; the previous tracer is restored)."""
    counts: Counter = Counter()
    inside: dict[str, bool] = {}

    def local(frame: Any, event: str, arg: Any) -> Any:  # noqa: ARG001
        if event == "line":
            counts[(frame.f_code.co_filename, frame.f_lineno)] += 1
        return local

    def enter(frame: Any, event: str, arg: Any) -> Any:  # noqa: ARG001
        path = frame.f_code.co_filename
        if path not in inside:
            inside[path] = code.relative(path) is not None
        return local if inside[path] else None

    previous = sys.gettrace()
    sys.settrace(enter)
    try:
        run()
    finally:
        sys.settrace(previous)
    return counts


@functools.lru_cache(maxsize=256)
def decision_points(path: str) -> tuple[tuple[int, int, int, str], ...]:
    """(first header line, last header line, first body line, "branch"|"loop") of every
    `if`/`for`/`while` statement in a file."""
    try:
        with open(path, encoding="utf-8") as source:
            tree = ast.parse(source.read())
    except (OSError, SyntaxError, UnicodeDecodeError):
        return ()
    points = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.If, ast.For, ast.While)) and node.body:
            body = node.body[0].lineno
            subject = "branch" if isinstance(node, ast.If) else "loop"
            points.append((node.lineno, max(node.lineno, body - 1), body, subject))
    return tuple(points)


def changed_decisions(run_a: Callable[[], Any], run_b: Callable[[], Any], code: ModelCode
                      ) -> dict[tuple[str, int], tuple[str, str, str]]:
    """Statements visited at both sizes whose body ran a different share of the visits:
    {(path, header line): (subject, share at "a", share at "b")}."""
    counts_a, counts_b = line_counts(run_a, code), line_counts(run_b, code)
    changed = {}
    for path in sorted({path for path, _ in counts_a} | {path for path, _ in counts_b}):
        relative = code.relative(path)
        for first, last, body, subject in decision_points(path):
            visits_a = max(counts_a[(path, line)] for line in range(first, last + 1))
            visits_b = max(counts_b[(path, line)] for line in range(first, last + 1))
            if not visits_a or not visits_b:
                continue  # not reached at one size: an enclosing decision changed instead
            share_a = Fraction(counts_a[(path, body)], visits_a)
            share_b = Fraction(counts_b[(path, body)], visits_b)
            if share_a != share_b:
                changed[(relative, first)] = (subject, _shown(share_a), _shown(share_b))
    return changed


def _shown(share: Fraction) -> str:
    return str(share) if share.denominator == 1 else f"{float(share):.2f}"
