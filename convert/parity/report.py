"""What parity found, as data (JSON) and as the table `audit`/`convert` print.

One row per (target, output): the worst value of every metric over all parity inputs, the
verdict, and for a failure which metric failed on which input. Targets: `torchscript` (the
captured module, judged at fp32), `coreml` (the converted model on torchready's MIL reference
runtime) and, on macOS, `coreml-device` (Apple's Core ML runtime, CPU only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, TextIO

from torchready.convert.parity.metrics import OutputMetrics, json_float
from torchready.convert.parity.thresholds import FAIL, PASS, WARN, MetricCheck, Thresholds, worst

TORCHSCRIPT = "torchscript"
REFERENCE = "coreml"  # the converted model on the MIL reference runtime
DEVICE = "coreml-device"  # Apple's runtime (macOS only)
UNRUN = "could not run"  # a row's problem when its target could not run on an input


@dataclass(frozen=True)
class Comparison:
    target: str
    case: str
    output: str
    metrics: OutputMetrics
    checks: tuple[MetricCheck, ...]
    # Distribution of |candidate - reference| (torchready.convert.parity.histogram); None: shapes differ.
    error_histogram: Any = None

    @property
    def status(self) -> str:
        return worst(check.status for check in self.checks)


@dataclass
class OutputRow:
    """The worst of every metric for one (target, output) over all inputs."""

    target: str
    output: str
    status: str
    cases: int
    max_abs: float
    max_rel: float
    psnr_db: float
    snr_db: float
    cosine: float
    argmax: float | None
    exact: float | None
    problems: list[str] = field(default_factory=list)  # "psnr 31.2 dB on random 2 (>= 40 dB)"

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "output": self.output, "status": self.status,
                "cases": self.cases, "max_abs": json_float(self.max_abs),
                "max_rel": json_float(self.max_rel), "psnr_db": json_float(self.psnr_db),
                "snr_db": json_float(self.snr_db), "cosine": json_float(self.cosine),
                "argmax_agreement": self.argmax, "exact_fraction": self.exact,
                "problems": self.problems}


@dataclass
class Recheck:
    """The same model converted again at fp32 and compared the same way."""

    status: str
    rows: list[OutputRow] = field(default_factory=list)
    divergence: Any = None  # localise.Divergence in the fp32 program, when it fails too
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "rows": [row.to_json() for row in self.rows],
                "divergence": self.divergence.to_json() if self.divergence else None,
                "error": self.error}


@dataclass
class ParityReport:
    precision: str  # compute precision of the converted model
    thresholds: Thresholds
    torchscript_thresholds: Thresholds
    cases: list[tuple[str, str]] = field(default_factory=list)  # (label, input shapes)
    inputs: list[Any] = field(default_factory=list)  # feeds.InputInfo: how each input was drawn
    comparisons: list[Comparison] = field(default_factory=list)
    rows: list[OutputRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # a target that could not run at all
    divergence: Any = None  # localise.Divergence
    localisation_note: str = ""
    recheck: Recheck | None = None
    cause: str = ""  # "fp16" | "conversion" | "capture" | "" (passed)
    notes: list[str] = field(default_factory=list)
    # fp16 programs that did not pass: one sentence per output (or diverging value) PyTorch holds
    # values fp16 cannot represent in (torchready.convert.parity.fp16_range)
    fp16_range: list[str] = field(default_factory=list)
    rejected_inputs: int = 0  # random inputs the eager model rejected (see notes)
    targets: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # What the `torchscript` target ran: "torchscript", or "export" (the ExportedProgram's
    # module) in export mode; the target key stays "torchscript", only its label changes.
    capture: str = "torchscript"

    def label(self, target: str) -> str:
        return "export" if target == TORCHSCRIPT and self.capture == "export" else target

    @property
    def status(self) -> str:
        if self.errors:
            return FAIL
        return worst(row.status for row in self.rows)

    @property
    def passed(self) -> bool:
        return self.status != FAIL

    def failures(self) -> list[str]:
        """One sentence per failing (target, output): which metric failed on which input."""
        return [f"{row.target} output '{row.output}': {'; '.join(row.problems)}"
                for row in self.rows if row.status == FAIL] + list(self.errors)

    def summary(self) -> str:
        """One line for progress and for `ConversionResult.error`."""
        counted = len(self.cases)
        if self.status == PASS:
            return f"parity passed on {counted} input(s) ({self.thresholds.describe()})"
        if self.status == WARN:
            return f"parity passed with warnings on {counted} input(s)"
        failed = [f"{self.label(row.target)} output '{row.output}' "
                  f"({', '.join(_failed_metrics(row))})"
                  for row in self.rows if row.status == FAIL]
        text = "parity failed: " + "; ".join(failed[:3] + self.errors[:1])
        if len(failed) > 3:
            text += f" and {len(failed) - 3} more"
        if self.divergence is not None:
            text += f"; {self.divergence.headline()}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "precision": self.precision,
            "rule": self.thresholds.describe(),
            "torchscript_rule": self.torchscript_thresholds.describe(),
            "capture": self.capture,
            "targets": self.targets,
            "cases": [{"label": label, "shapes": shapes} for label, shapes in self.cases],
            "inputs": [_input_json(info) for info in self.inputs],
            "rows": [row.to_json() for row in self.rows],
            "comparisons": [
                {"target": c.target, "case": c.case, "output": c.output, "status": c.status,
                 "metrics": c.metrics.to_json(), "checks": [k.to_json() for k in c.checks]}
                for c in self.comparisons],
            "failures": self.failures(),
            "errors": self.errors,
            "divergence": self.divergence.to_json() if self.divergence else None,
            "localisation_note": self.localisation_note,
            "recheck_fp32": self.recheck.to_json() if self.recheck else None,
            "cause": self.cause,
            "fp16_range": self.fp16_range,
            "rejected_inputs": self.rejected_inputs,
            "notes": self.notes,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


def _input_json(info: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": info.name, "kind": info.kind}
    if info.kind == "int":
        data.update({"range": [int(info.low), int(info.high)], "source": info.range_source})
    elif info.kind == "float":
        data.update({"distribution": "uniform [0, 1]" if info.unit_range else
                     f"normal mean {info.low:.3g} std {info.high:.3g}"})
    elif info.kind == "image":
        data.update({"pixels": "0..255", "scale": info.pixel_scale,
                     "bias": list(info.pixel_bias)})
    return data


def _failed_metrics(row: OutputRow) -> list[str]:
    return [UNRUN if problem.startswith(UNRUN) else problem.split(" failed", 1)[0]
            for problem in row.problems if " failed " in problem or problem.startswith(UNRUN)]


def summarise(comparisons: list[Comparison], targets: list[str], outputs: list[str]
              ) -> list[OutputRow]:
    rows = []
    for target in targets:
        for output in outputs:
            mine = [c for c in comparisons if c.target == target and c.output == output]
            if not mine:
                continue
            metrics = [c.metrics for c in mine]
            problems = _problems(mine)
            argmax = [m.argmax_agreement for m in metrics if m.argmax_agreement is not None]
            exact = [m.exact_fraction for m in metrics if m.exact_fraction is not None]
            rows.append(OutputRow(
                target=target, output=output, status=worst(c.status for c in mine),
                cases=len(mine),
                max_abs=max(m.max_abs for m in metrics),
                max_rel=max(m.max_rel for m in metrics),
                psnr_db=min(m.psnr_db for m in metrics),
                snr_db=min(m.snr_db for m in metrics),
                cosine=min(m.cosine for m in metrics),
                argmax=min(argmax) if argmax else None,
                exact=min(exact) if exact else None,
                problems=problems,
            ))
    return rows


def mark_unrun(rows: list[OutputRow], target: str, outputs: list[str], status: str,
               problem: str) -> None:
    """A target that could not run (on some or every input) keeps one row per output, marked
    with `status` and the reason; rows it has from other inputs are kept and marked too."""
    for output in outputs:
        row = next((r for r in rows if r.target == target and r.output == output), None)
        if row is None:
            nan = math.nan
            row = OutputRow(target=target, output=output, status=status, cases=0, max_abs=nan,
                            max_rel=nan, psnr_db=nan, snr_db=nan, cosine=nan, argmax=None,
                            exact=None)
            rows.append(row)
        row.status = worst([row.status, status])
        row.problems.append(problem)


def outlier_notes(comparisons: list[Comparison]) -> list[str]:
    """One sentence per (target, output) that passed the fp16 element-wise gate with elements
    outside its tolerance (within the allowed share): the worst input's count and worst value."""
    worst: dict[tuple[str, str], tuple[MetricCheck, str]] = {}
    for comparison in comparisons:
        for check in comparison.checks:
            if check.metric != "elementwise" or check.status != PASS or not check.value:
                continue
            key = (comparison.target, comparison.output)
            if key not in worst or check.value > (worst[key][0].value or 0.0):
                worst[key] = (check, comparison.case)
    return [f"{target} output '{output}' on {case}: {check.detail}; within the fp16 element-wise "
            f"rule's allowance ({check.limit})"
            for (target, output), (check, case) in worst.items()]


def _problems(comparisons: list[Comparison]) -> list[str]:
    """One phrase per failing or warning metric, naming every input it happened on and the
    worst value seen."""
    grouped: dict[tuple[str, str], list[tuple[MetricCheck, str]]] = {}
    for comparison in comparisons:
        for check in comparison.checks:
            if check.status != PASS:
                grouped.setdefault((check.metric, check.status), []).append(
                    (check, comparison.case))
    phrases = []
    for (_, status), items in sorted(grouped.items(), key=lambda kv: kv[0][1] != FAIL):
        worst_check = min(items, key=lambda item: _badness(item[0]))[0]
        cases = ", ".join(dict.fromkeys(case for _, case in items))
        phrases.append(_problem(worst_check, cases))
    return phrases


def _badness(check: MetricCheck) -> float:
    """Lower is worse, whatever the metric (errors and mismatch counts grow when worse)."""
    value = check.value if check.value is not None else 0.0
    return -value if check.metric in ("allclose", "nonfinite", "elementwise") else value


def _problem(check: MetricCheck, case: str) -> str:
    if check.metric == "psnr":
        value = f"PSNR {check.value:.1f} dB"
    elif check.metric in ("argmax", "exact"):
        value = f"{check.metric} {check.value:.2%}" if check.value is not None else check.metric
    elif check.metric == "cosine":
        value = f"cosine {check.value:.5f}"
    elif check.metric == "allclose":
        value = f"max abs {check.value:.3g}"
    elif check.metric == "elementwise":
        word = "failed" if check.status == FAIL else "warned"
        return f"elementwise {word} on {case}: {check.detail} (needs {check.limit})"
    elif check.metric == "nonfinite":
        word = "failed" if check.status == FAIL else "warned"
        return f"nonfinite {word} on {case}: {check.detail}"
    else:
        value = check.metric
    detail = f", {check.detail}" if check.detail else ""
    word = "failed" if check.status == FAIL else "warned"
    return f"{check.metric} {word} on {case}: {value} (needs {check.limit}{detail})"


def render_text(report: ParityReport, stream: TextIO, width: int | None = None) -> None:
    """The parity table and, on failure, what failed and where it started."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=stream, highlight=False, soft_wrap=True, width=width)
    if not console.is_terminal and width is None:
        console = Console(file=stream, highlight=False, soft_wrap=True, width=120)
    labels = ", ".join(label for label, _ in report.cases)
    table = Table(title=f"Parity ({report.precision} compute precision; inputs: {labels})",
                  title_justify="left", show_lines=False)
    for column, justify in (("target", "left"), ("output", "left"), ("verdict", "left"),
                            ("max abs", "right"), ("max rel", "right"), ("PSNR dB", "right"),
                            ("SNR dB", "right"), ("cosine", "right"), ("agreement", "right")):
        table.add_column(column, justify=justify)
    styles = {PASS: "green", WARN: "yellow", FAIL: "bold red"}
    for row in report.rows:
        verdict = f"[{styles[row.status]}]{row.status}[/]"
        if row.exact is not None:
            cells = [_fmt(row.max_abs), "-", "-", "-", "-", f"{row.exact:.1%} exact"]
        else:
            cells = [_fmt(row.max_abs), _fmt(row.max_rel), _fmt_db(row.psnr_db),
                     _fmt_db(row.snr_db), "-" if math.isnan(row.cosine) else f"{row.cosine:.6f}",
                     f"{row.argmax:.2%} argmax" if row.argmax is not None else "-"]
        table.add_row(escape(report.label(row.target)), escape(row.output), verdict,
                      *map(escape, cells))
    console.print(table)
    captured = "export" if report.capture == "export" else "TorchScript"
    console.print(f"rule: {escape(report.thresholds.describe())}; {captured}: "
                  f"{escape(report.torchscript_thresholds.describe())}", style="dim")
    for failure in report.failures():
        console.print(f"[bold red]parity failure[/] {escape(failure)}")
    for sentence in report.fp16_range:
        console.print(f"[bold]fp16 range[/] {escape(sentence)}")
    for row in report.rows:
        if row.status == WARN:
            console.print(f"[yellow]parity warning[/] "
                          f"{escape(report.label(row.target))} output "
                          f"'{escape(row.output)}': {escape('; '.join(row.problems))}")
    if report.divergence is not None:
        _render_divergence(console, report.divergence, "")
    elif report.localisation_note:
        console.print(f"  {escape(report.localisation_note)}", style="dim")
    if report.recheck is not None:
        recheck = report.recheck
        if recheck.error:
            console.print(f"  fp32 re-conversion failed: {escape(recheck.error)}")
        elif recheck.status != FAIL:
            worst_psnr = min((r.psnr_db for r in recheck.rows), default=math.inf)
            console.print(f"  [bold]converted again at fp32: parity {recheck.status}[/] (worst "
                          f"PSNR {_fmt_db(worst_psnr)} dB): the failure is an fp16 precision "
                          "effect, not a conversion error.")
        else:
            console.print("  [bold]converted again at fp32: parity fails too[/]: the converted "
                          "program computes something else than PyTorch.")
            if recheck.divergence is not None:
                _render_divergence(console, recheck.divergence, "  fp32: ")
    for note in report.notes:
        console.print(f"  note: {escape(note)}", style="dim")


def _render_divergence(console: Any, divergence: Any, prefix: str) -> None:
    from rich.markup import escape

    console.print(f"  {escape(prefix)}[bold]{escape(divergence.headline())}[/] on "
                  f"{escape(divergence.case)}: {escape(divergence.reason)}")
    if divergence.origin:
        console.print(f"    emitted by {escape(divergence.origin)}", style="dim")
    low, high = divergence.value_range
    if low is not None and high is not None:
        console.print(f"    Core ML values range {low:.4g} .. {high:.4g}; "
                      f"{divergence.compared_before} earlier value(s) matched PyTorch",
                      style="dim")
    if divergence.hint:
        console.print(f"    {escape(divergence.hint)}")


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value:.3g}"


def _fmt_db(value: float) -> str:
    if math.isnan(value):
        return "-"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.1f}"
