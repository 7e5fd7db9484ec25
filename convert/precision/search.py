"""The search behind `--precision auto`: fp16 everywhere parity allows, fp32 only where it fails.

    search = find_fp32_ops(result, parity_options)   # after an fp16 parity failure

1. The fp16 model failed parity and the fp32 re-conversion passed (parity's recheck): the
   failure is fp16's. (A capture failure or an fp32 failure is no precision problem: stop.)
2. Convert once more with an op_selector that keeps everything fp32 and records every op it is
   asked about (`selectable`): the names later selectors answer for, the dataflow between them,
   and an fp32 program whose values show where fp16's range is left (`regions`).
3. Round after round: take the localiser's first divergence in the current program (or, when
   it names nothing left to keep, the first value the program overflows fp16 with), keep its
   region in fp32 (`regions.region_for`), convert again with `FP16ComputePrecision(op_selector=
   ...)` and check parity again, until parity passes or a bound is hit: `max_rounds`
   reconversions, or more than `max_fp32_fraction` of the float ops in fp32.
4. When more than one region was kept, try the model without each earlier one: a later region
   (upstream inputs, say) can make an earlier one unnecessary. What remains is kept.
5. Without a mixed program that passes, fall back to fp32 for the whole model and say why.

Op names are stable between conversions of one capture: they come from the captured graph, and
the ones coremltools' builder numbers itself restart after every conversion it completes. The
selector proves it in every round (a kept name the selector was never asked about stops the
search), and parity judges every program kept.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from torchready.convert.precision.regions import Region, region_for, value_magnitudes
from torchready.convert.precision.report import (FAILED, FP32, MIXED, SUGGESTED, Fp32Op,
                                                 ParityFigures, PrecisionReport, Round)
from torchready.convert.precision.selectable import (SelectableGraph, record_selectable,
                                                     selector_keeping)


@dataclass(frozen=True)
class PrecisionOptions:
    max_rounds: int = 8  # reconversions with more ops in fp32 before falling back to fp32
    max_fp32_fraction: float = 0.5  # of the ops computing on floats; beyond it: fp32 throughout
    prune: bool = True  # drop regions a later one made unnecessary (one conversion each)


@dataclass
class SearchResult:
    """The report, and the model to keep (None: keep the failed fp16 one)."""

    report: PrecisionReport
    conversion: Any = None
    sourcemap: Any = None
    parity: Any = None


@dataclass
class _Plan:
    """The all-fp32 recording conversion: selectable graph, program, magnitudes, source map."""

    graph: SelectableGraph
    sourcemap: dict[str, Any]
    magnitudes: dict[str, float] = field(default_factory=dict)
    lines: dict[str, tuple[str, int]] = field(default_factory=dict)  # op -> user (path, line)
    feeds: list[dict[str, Any]] = field(default_factory=list)  # the parity inputs, Core ML side


def find_fp32_ops(result: Any, parity_options: Any = None,
                  options: PrecisionOptions | None = None) -> SearchResult:
    """Search for the fewest fp32 ops that make `result` (failed fp16 parity) pass."""
    options = options or PrecisionOptions()
    started = time.perf_counter()
    before = result.parity
    report = PrecisionReport(requested="auto", outcome=FAILED,
                             before=ParityFigures.of(before))
    search = SearchResult(report)
    try:
        stop = _not_precision(before)
        if stop:
            report.reason = stop
            return search
        try:
            plan = _plan(result, parity_options)
            report.conversions += 1
            report.float_ops = len(plan.graph.float_ops)
            _rounds(result, parity_options, options, plan, search)
        except Exception as error:  # the search is an optimisation: fp32 still converts
            from torchready.convert.coreml.errors import first_line

            report.reason = (f"the search stopped on an error ({type(error).__name__}: "
                             f"{first_line(error)})")
        if report.outcome != MIXED:
            _fall_back(result, parity_options, search)
    finally:
        report.seconds = time.perf_counter() - started
    return search


def first_region(result: Any, parity_options: Any = None) -> PrecisionReport | None:
    """What auto would keep in fp32 first, for a model that failed parity at fp16 and passed
    at fp32 (one recording conversion, no search); None when that cannot be said."""
    before = result.parity
    if _not_precision(before) or before.divergence is None:
        return None
    plan = _plan(result, parity_options)
    region = _region(before.divergence, plan, set())
    if region is None:
        return None
    fp32_ops = _described(region.ops, plan, dict.fromkeys(region.ops, 1),
                          dict.fromkeys(region.ops, region.reason))
    return PrecisionReport(requested="fp16", outcome=SUGGESTED, fp32_ops=fp32_ops,
                           float_ops=len(plan.graph.float_ops), before=ParityFigures.of(before),
                           conversions=1)


def _not_precision(before: Any) -> str:
    """Why fp32 islands cannot fix this failure ("" when they might)."""
    if before.cause == "capture":
        return ("the captured module already differs from eager PyTorch: the capture changed "
                "the model, no precision can fix it")
    recheck = before.recheck
    if recheck is not None and recheck.error is None and recheck.status == "fail":
        return ("the model fails parity at fp32 too: the converted program computes something "
                "else than PyTorch, no precision can fix it")
    return ""


def _plan(result: Any, parity_options: Any) -> _Plan:
    from torchready.convert.milrt import load_program
    from torchready.convert.parity.engine import parity_cases
    from torchready.convert.parity.stage import convert_again, parity_options_for

    graph, (conversion, sourcemap) = record_selectable(
        lambda selector: convert_again(result, "fp16", selector))
    program = load_program(conversion.mlmodel)
    _, cases = parity_cases(result.prepared, program,
                            parity_options_for(result, parity_options))
    feeds = [case.coreml_feeds for case in cases.cases]
    magnitudes = value_magnitudes(program, graph, feeds)
    return _Plan(graph, sourcemap, magnitudes, _user_lines(graph, sourcemap), feeds)


def _user_lines(graph: SelectableGraph, sourcemap: dict[str, Any]) -> dict[str, tuple[str, int]]:
    from torchready.convert.precision.selectable import saved_op_name

    ops = sourcemap.get("ops", {})
    lines = {}
    for name in graph.ops:
        torch = (ops.get(saved_op_name(name)) or {}).get("torch") or {}
        if torch.get("path") and torch.get("line"):
            lines[name] = (torch["path"], torch["line"])
    return lines


def _rounds(result: Any, parity_options: Any, options: PrecisionOptions, plan: _Plan,
            search: SearchResult) -> None:
    report = search.report
    keep: dict[str, int] = {}  # op -> the round that kept it
    reasons: dict[str, str] = {}
    regions: list[Region] = []
    parity, mlmodel = result.parity, result.mlmodel
    for number in range(1, options.max_rounds + 1):
        region, asked_by = _next_region(parity, mlmodel, plan, set(keep))
        if region is None:
            report.reason = asked_by
            return
        if len(keep) + len(region.ops) > options.max_fp32_fraction * max(report.float_ops, 1):
            report.reason = (f"{len(keep) + len(region.ops)} of {report.float_ops} float ops "
                             f"would need fp32, more than {options.max_fp32_fraction:.0%}")
            return
        keep.update((name, number) for name in region.ops)
        reasons.update((name, region.reason) for name in region.ops)
        regions.append(region)
        checked = _check(result, parity_options, set(keep), report)
        if isinstance(checked, str):
            report.reason = checked
            return
        search.conversion, search.sourcemap, parity = checked
        search.parity, mlmodel = parity, search.conversion.mlmodel
        report.rounds.append(Round(number, region.ops, region.reason, asked_by,
                                   ParityFigures.of(parity)))
        if parity.passed:
            break
    else:
        report.reason = (f"parity still fails after {options.max_rounds} round(s) of keeping "
                         "ops in fp32")
        return
    if options.prune and len(regions) > 1:
        _prune(result, parity_options, regions, keep, search)
    report.outcome = MIXED
    report.fp32_ops = _described(keep, plan, keep, reasons)
    report.after = ParityFigures.of(search.parity)


def _prune(result: Any, parity_options: Any, regions: list[Region], keep: dict[str, int],
           search: SearchResult) -> None:
    """Without each earlier region in turn: kept out when parity still passes."""
    for region in regions[:-1]:
        trial = set(keep) - set(region.ops)
        checked = _check(result, parity_options, trial, search.report)
        if isinstance(checked, str) or not checked[2].passed:
            continue
        search.conversion, search.sourcemap, search.parity = checked
        search.report.pruned.extend(region.ops)
        for name in region.ops:
            keep.pop(name, None)


def _check(result: Any, parity_options: Any, keep: set[str], report: PrecisionReport
           ) -> tuple[Any, Any, Any] | str:
    """Convert with `keep` in fp32 and check parity (no fp32 recheck): (conversion, source
    map, parity report), or why it could not be done."""
    from torchready.convert.parity.engine import ParityOptions
    from torchready.convert.parity.stage import convert_again, run_parity

    seen: set[str] = set()
    report.conversions += 1
    try:
        conversion, sourcemap = convert_again(result, "fp16", selector_keeping(keep, seen))
    except RuntimeError as error:
        return f"coremltools failed with {len(keep)} op(s) in fp32: {error}"
    missing = sorted(keep - seen)
    if missing:
        return (f"op names changed between conversions of the same capture: "
                f"{', '.join(missing[:3])} no longer exist")
    options = dataclasses.replace(parity_options or ParityOptions(), recheck_fp32=False)
    candidate = dataclasses.replace(result, conversion=conversion, mlmodel=conversion.mlmodel,
                                    sourcemap=sourcemap)
    return conversion, sourcemap, run_parity(candidate, options)


def _fall_back(result: Any, parity_options: Any, search: SearchResult) -> None:
    """The whole model at fp32 (what `--precision fp32` converts), checked at fp32."""
    from torchready.convert.parity.stage import convert_again, run_parity

    report = search.report
    report.conversions += 1
    try:
        conversion, sourcemap = convert_again(result, "fp32")
    except RuntimeError as error:
        report.reason += f"; the fp32 conversion failed too: {error}"
        return
    candidate = dataclasses.replace(result, conversion=conversion, mlmodel=conversion.mlmodel,
                                    sourcemap=sourcemap)
    parity = run_parity(candidate, parity_options)
    search.conversion, search.sourcemap, search.parity = conversion, sourcemap, parity
    report.after = ParityFigures.of(parity)
    report.outcome = FP32 if parity.passed else FAILED
    report.fp32_ops = []


def _next_region(parity: Any, mlmodel: Any, plan: _Plan, keep: set[str]
                 ) -> tuple[Region | None, str]:
    """The region this round keeps in fp32, and what asked for it (or, without a region, why).

    The localiser's first divergence first. When it names nothing left to keep (a value it
    could not align faithfully, a divergence inside a loop body it cannot see), the first value
    the current program overflows in fp16 on a parity input, where there is one."""
    divergence = parity.divergence
    if divergence is not None:
        region = _region(divergence, plan, keep)
        if region is not None:
            return region, divergence.headline()
    overflowing = _first_overflow(mlmodel, plan, keep)
    if overflowing is not None:
        region = region_for(overflowing, plan.graph, keep, plan.magnitudes, lines=plan.lines)
        if region is not None:
            return region, f"first fp16 overflow at value '{overflowing}'"
    if divergence is None:
        return None, ("parity fails but no single value diverges from PyTorch "
                      f"({parity.localisation_note or 'nothing to localise'})")
    return None, f"nothing left to keep in fp32 for {divergence.headline()}"


def _first_overflow(mlmodel: Any, plan: _Plan, keep: set[str]) -> str | None:
    """The first value (selectable name) an op of `mlmodel` overflows fp16 with, on the
    parity inputs, whose region is not all kept already."""
    from torchready.convert.milrt import load_program

    program = load_program(mlmodel)
    for feeds in plan.feeds:
        for record in program.run(feeds, record=True).records:
            for stats in record.outputs:
                if not stats.fp16_overflow:
                    continue
                value = plan.graph.value_of_saved(stats.name)
                if value is not None and region_for(value, plan.graph, keep,
                                                    plan.magnitudes) is not None:
                    return value
    return None


def _region(divergence: Any, plan: _Plan, keep: set[str]) -> Region | None:
    graph = plan.graph
    value = graph.value_of_saved(divergence.mil_var)
    if value is not None and value not in graph.producer and value not in graph.readers:
        value = None
    fallback = graph.ops_of_node(divergence.torch_name) or \
        [name for name in [graph.op_of_saved(divergence.op_name)] if name]
    return region_for(value, graph, keep, plan.magnitudes, fallback_ops=fallback,
                      lines=plan.lines)


def _described(names: Any, plan: _Plan, rounds: dict[str, int], reasons: dict[str, str]
               ) -> list[Fp32Op]:
    """Each kept op with its saved name, TorchScript node and user line (the fp32 program's
    source map: there every op keeps its name)."""
    from torchready.convert.precision.selectable import saved_op_name

    ops = plan.sourcemap.get("ops", {})
    described = []
    for name in (n for n in plan.graph.ops if n in set(names)):
        op = plan.graph.ops[name]
        saved = saved_op_name(name)
        torch = (ops.get(saved) or {}).get("torch") or {}
        described.append(Fp32Op(name=name, op_type=op.op_type,
                                saved_name=saved if saved in ops else None,
                                torch_node=torch.get("node") or op.torch_node,
                                torch_kind=torch.get("kind"), path=torch.get("path"),
                                line=torch.get("line"), round=rounds.get(name, 0),
                                reason=reasons.get(name, "")))
    return described
