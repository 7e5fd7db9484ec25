"""What `--precision auto` decided, as data: the ops kept in fp32 and parity before and after.

Shared by the text and JSON output (`summary`), the audit reports and the saved package's
metadata, so they all say the same thing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from torchready.convert.parity.metrics import json_float

# Outcomes of a search.
FP16 = "fp16"  # parity passed at fp16: nothing kept in fp32
MIXED = "mixed"  # parity passes with `fp32_ops` in fp32, every other op in fp16
FP32 = "fp32"  # no mixed program passed within the bounds: the whole model is fp32
FAILED = "failed"  # not even the fp32 model passes: precision is not the problem
SUGGESTED = "suggested"  # `--precision fp16` failed: the ops auto would start with

METADATA_PRECISION = "torchready.precision"
METADATA_FP32_OPS = "torchready.fp32_ops"


@dataclass(frozen=True)
class Fp32Op:
    """One MIL op kept in fp32, and where it comes from."""

    name: str  # as coremltools' op_selector sees it
    op_type: str
    saved_name: str | None = None  # its name in the saved program
    torch_node: str | None = None
    torch_kind: str | None = None
    path: str | None = None
    line: int | None = None
    round: int = 0  # the search round that kept it
    reason: str = ""  # regions.OVERFLOW | UNDERFLOW | PRECISION | INPUTS

    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.path else ""

    def describe(self) -> str:
        kind = f" ({self.torch_kind})" if self.torch_kind else ""
        where = f" at {self.where()}" if self.path else ""
        return f"{self.op_type} '{self.saved_name or self.name}'{kind}{where}"

    def to_json(self) -> dict[str, Any]:
        return {"op": self.name, "saved_op": self.saved_name, "op_type": self.op_type,
                "torch_node": self.torch_node, "torch_kind": self.torch_kind,
                "path": self.path, "line": self.line, "round": self.round,
                "reason": self.reason}


@dataclass(frozen=True)
class ParityFigures:
    """The converted model's worst parity figures (the MIL reference runtime's rows)."""

    status: str
    precision: str
    psnr_db: float | None = None
    max_abs: float | None = None
    cosine: float | None = None
    failures: tuple[str, ...] = ()

    @classmethod
    def of(cls, report: Any, precision: str | None = None) -> ParityFigures:
        from torchready.convert.parity.report import REFERENCE

        rows = [row for row in report.rows if row.target == REFERENCE and row.exact is None]
        return cls(status=report.status, precision=precision or report.precision,
                   psnr_db=min((row.psnr_db for row in rows), default=None),
                   max_abs=max((row.max_abs for row in rows), default=None),
                   cosine=min((row.cosine for row in rows), default=None),
                   failures=tuple(report.failures()))

    def describe(self) -> str:
        """"pass at fp16, worst PSNR 61.8 dB, max abs 0.00079", or the first failure."""
        if self.status == "fail" and self.failures:
            return f"fails at {self.precision}: {self.failures[0]}"
        parts = [f"{self.status} at {self.precision}"]
        if self.psnr_db is not None:
            psnr = "inf" if math.isinf(self.psnr_db) else f"{self.psnr_db:.1f}"
            parts.append(f"worst PSNR {psnr} dB")
        if self.max_abs is not None:
            parts.append(f"max abs {self.max_abs:.3g}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "precision": self.precision,
                "psnr_db": json_float(self.psnr_db), "max_abs": json_float(self.max_abs),
                "cosine": json_float(self.cosine), "failures": list(self.failures)}


@dataclass(frozen=True)
class Round:
    """One reconversion: the ops it added to fp32, why, and what parity said then."""

    number: int
    added: tuple[str, ...]
    reason: str
    divergence: str  # the localiser's headline that asked for them
    parity: ParityFigures | None = None

    def to_json(self) -> dict[str, Any]:
        return {"round": self.number, "added": list(self.added), "reason": self.reason,
                "divergence": self.divergence,
                "parity": self.parity.to_json() if self.parity else None}


@dataclass
class PrecisionReport:
    """The outcome of `--precision auto` (or the hint after a failed `--precision fp16`)."""

    requested: str  # "auto" | "fp16"
    outcome: str  # FP16 | MIXED | FP32 | FAILED | SUGGESTED
    fp32_ops: list[Fp32Op] = field(default_factory=list)
    float_ops: int = 0  # ops that compute on floats: what fp16 could apply to
    before: ParityFigures | None = None  # fp16 everywhere
    after: ParityFigures | None = None  # the model kept (None: as before)
    rounds: list[Round] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)  # kept by a round, then proven unneeded
    reason: str = ""  # why the search stopped without a mixed program
    conversions: int = 0  # ct.convert runs the search made
    seconds: float = 0.0

    def headline(self) -> str:
        count = f"{len(self.fp32_ops)} of {self.float_ops} ops"
        if self.outcome == FP16:
            return "parity passes at fp16: every op stays fp16"
        if self.outcome == MIXED:
            rounds = f"{len(self.rounds)} round{'s' if len(self.rounds) != 1 else ''}"
            return f"{count} kept in fp32, the rest fp16 ({rounds}); parity passes"
        if self.outcome == FP32:
            return f"no mixed-precision program passed ({self.reason}): converted at fp32"
        if self.outcome == SUGGESTED:
            return (f"fp32 passes where fp16 fails: --precision auto would keep {count} in "
                    f"fp32 to start with ({self.by_line()}), the rest in fp16")
        return self.reason

    def by_line(self) -> str:
        """The fp32 ops grouped by source line: "pow, reduce_mean at model.py:12 (10 ops)"."""
        groups: dict[str, list[Fp32Op]] = {}
        for op in self.fp32_ops:
            groups.setdefault(op.where() or op.torch_node or "?", []).append(op)
        parts = []
        for where, ops in groups.items():
            kinds = ", ".join(dict.fromkeys(op.op_type for op in ops))
            parts.append(f"{kinds} at {where}" + (f" ({len(ops)} ops)" if len(ops) > 1 else ""))
        return "; ".join(parts)

    def metadata(self) -> dict[str, str]:
        """The saved package's user-defined metadata for this outcome: `torchready.precision`
        says what auto chose; `torchready.fp32_ops` (fp16 and mixed outcomes) lists the ops it
        kept in fp32 as JSON [{"op", "type", "source"}]."""
        if self.outcome == SUGGESTED:
            return {}
        summary = {FP16: "fp16", MIXED: f"mixed: {len(self.fp32_ops)} of {self.float_ops} ops "
                   "fp32", FP32: "fp32 (auto fell back)", FAILED: "failed"}[self.outcome]
        entries = {METADATA_PRECISION: f"auto -> {summary}"}
        if self.outcome in (FP16, MIXED):
            entries[METADATA_FP32_OPS] = json.dumps([
                {"op": op.saved_name or op.name, "type": op.op_type, "source": op.where() or None}
                for op in self.fp32_ops], separators=(",", ":"))
        return entries

    def render_text(self, console: Any) -> None:
        """The precision section of `audit`/`convert`'s text report."""
        from rich.markup import escape

        if self.outcome == SUGGESTED:
            console.print(f"[bold]hint[/] {escape(self.headline())}")
            console.print("  (run again with --precision auto to search for every op that needs "
                          "fp32 and check parity with them kept)", style="dim")
            return
        style = {FP16: "green", MIXED: "green", FP32: "yellow", FAILED: "bold red"}[self.outcome]
        console.print(f"[bold]Precision (auto)[/] [{style}]{escape(self.headline())}[/]")
        if self.outcome == FP16:
            return
        if self.before is not None:
            console.print(f"  parity with every op in fp16: {escape(self.before.describe())}")
        if self.after is not None:
            console.print(f"  parity of the model kept: {escape(self.after.describe())}")
        for op in self.fp32_ops:
            torch = f"  {op.torch_kind}" if op.torch_kind else ""
            where = f"  {op.where()}" if op.path else ""
            console.print(f"  fp32: {escape(op.op_type)} '{escape(op.saved_name or op.name)}'"
                          f"{escape(torch)}{escape(where)}  ({escape(op.reason)}, round "
                          f"{op.round})")
        if self.pruned:
            console.print(f"  kept by a round, then shown unnecessary: "
                          f"{escape(', '.join(self.pruned))}", style="dim")
        console.print(f"  {self.conversions} conversion(s), {self.seconds:.1f}s", style="dim")

    def to_json(self) -> dict[str, Any]:
        return {"requested": self.requested, "outcome": self.outcome,
                "headline": self.headline(),
                "fp32_ops": [op.to_json() for op in self.fp32_ops],
                "fp32_op_count": len(self.fp32_ops), "float_ops": self.float_ops,
                "before": self.before.to_json() if self.before else None,
                "after": self.after.to_json() if self.after else None,
                "rounds": [r.to_json() for r in self.rounds], "pruned": self.pruned,
                "reason": self.reason, "conversions": self.conversions,
                "seconds": round(self.seconds, 3)}
