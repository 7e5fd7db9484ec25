"""One function per report section, each reading one part of a `ConversionResult`.

A stage that did not run leaves its section `None` (a capture that failed has no coverage, a
conversion that failed has no parity). Paths are shown as lint shows them: relative to the working
directory when the file is under it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

from torchready.convert.reports.excerpts import SourceExcerpts

PREVIEW_TYPE_KEY = "com.apple.coreml.model.preview.type"
PREVIEW_PARAMS_KEY = "com.apple.coreml.model.preview.params"
# coremltools' specification version -> the deployment target it first shipped with.
SPECIFICATION_TARGETS = {4: "iOS13", 5: "iOS14", 6: "iOS15", 7: "iOS16", 8: "iOS17", 9: "iOS18"}


def _display(path: str) -> str:
    from torchready.convert.coreml.torch_graph import display_path

    return path if not path or path.startswith("<") else display_path(path)


def _place(path: str, line: int) -> str:
    return f"{_display(path)}:{line}"


# --- the model and how it was run ---------------------------------------------------------------


def model(result: Any, spec_text: str | None) -> dict[str, Any]:
    spec = result.spec
    module = getattr(spec, "module", None)
    section: dict[str, Any] = {"spec": spec_text, "class": None, "module": None,
                               "parameters": None, "source_files": [], "example_inputs": []}
    if module is None:
        return section
    from torchready.convert.pipeline import model_source_files

    section["class"] = type(module).__qualname__
    section["module"] = type(module).__module__
    try:
        section["parameters"] = int(sum(p.numel() for p in module.parameters()))
    except Exception:  # a module whose parameters() raises is still reported
        section["parameters"] = None
    section["source_files"] = [_display(path) for path in model_source_files(spec)]
    section["example_inputs"] = [
        {"shape": list(getattr(tensor, "shape", ())), "dtype": str(getattr(tensor, "dtype", ""))}
        for tensor in (spec.example_inputs or ())]
    return section


def options(result: Any, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The settings the run used (the spec after the command line's overrides), and the
    command line's arguments as given."""
    spec = result.spec
    conversion = result.conversion
    coreml = getattr(conversion, "options", None)
    return {
        "mode": (getattr(spec, "mode", None) or "auto") if spec is not None else None,
        "imagenet": bool(getattr(spec, "imagenet", False)),
        "class_labels": len(getattr(spec, "class_labels", None) or []),
        "compute_precision": getattr(coreml, "compute_precision", None)
        or getattr(spec, "compute_precision", None) or "fp16",
        "minimum_deployment_target": getattr(coreml, "minimum_deployment_target", None)
        or getattr(spec, "minimum_deployment_target", None),
        "lint": "lint" in result.timings,
        "shape_probing": result.shape_probes is not None,
        "parity": result.parity is not None,
        "arguments": dict(arguments),
    }


# --- findings -----------------------------------------------------------------------------------


def findings(result: Any, excerpts: SourceExcerpts) -> list[dict[str, Any]]:
    """Every diagnostic in source order, with the lines around it."""
    described = []
    for diagnostic in result.diagnostics:
        data = diagnostic.to_json()
        data["path"] = _display(diagnostic.path)
        data["origin"] = diagnostic.origin
        data["kind"] = "static" if diagnostic.origin == "lint" else "dynamic"
        data["classification"] = diagnostic.details.get("classification")
        data["handled"] = bool(diagnostic.details.get("handled"))
        data.setdefault("details", {})
        data["excerpt"] = excerpts.excerpt(data["path"], diagnostic.line, diagnostic.column,
                                           diagnostic.end_line, diagnostic.end_column)
        described.append(data)
    return described


def capture(result: Any) -> dict[str, Any]:
    captured = result.captured
    section: dict[str, Any] = {"mode": result.capture_mode, "reason": result.capture_reason,
                               "ok": None, "error": None, "error_location": None,
                               "frozen": None, "traced_submodules": [], "checks": [],
                               "notes": []}
    if captured is None:
        return section
    location = captured.error_location
    section.update(
        ok=bool(captured.ok), error=captured.error,
        error_location=_place(*location) if location else None,
        frozen=bool(captured.frozen), traced_submodules=list(captured.traced_submodules),
        checks=[{"name": check.name, "ok": bool(check.ok), "detail": check.detail}
                for check in captured.checks],
        notes=list(captured.notes))
    return section


def shape_probes(result: Any) -> list[dict[str, Any]] | None:
    """Each input dimension probed at another size: follows, specialized, or rejected."""
    report = result.shape_probes
    if report is None:
        return None
    probed = []
    for dimension in report.to_json().get("dimensions", []):
        dimension = dict(dimension)
        dimension["lines"] = [{**line, "path": _display(line["path"])}
                              for line in dimension.get("lines", [])]
        probed.append(dimension)
    return probed


# --- op coverage --------------------------------------------------------------------------------


def coverage(result: Any) -> dict[str, Any] | None:
    """Every TorchScript op kind coremltools converts: supported, by a composite op, or not."""
    report = result.coverage
    if report is None:
        return None
    ops = []
    for kind, use in report.kinds.items():
        if kind in report.unsupported:
            status = "unsupported"
        elif kind in report.composite:
            status = "composite"
        else:
            status = "supported"
        ops.append({"kind": kind, "count": use.count, "status": status,
                    "lines": [_place(path, line) for path, line in use.lines],
                    "library_lines": [_place(path, line) for path, line in use.library_lines]})
    order = {"unsupported": 0, "composite": 1, "supported": 2}
    ops.sort(key=lambda op: (order[op["status"]], -op["count"], op["kind"]))
    return {"ok": bool(report.ok), "kinds": len(ops),
            "unsupported": sum(1 for op in ops if op["status"] == "unsupported"),
            "composite": sum(1 for op in ops if op["status"] == "composite"),
            "ops": ops}


# --- what Core ML got ---------------------------------------------------------------------------


def conversion(result: Any) -> dict[str, Any] | None:
    converted = result.conversion
    if converted is None:
        return None
    options = converted.options
    mlmodel = result.mlmodel
    torch_names = list(result.torch_output_names) or list(result.output_names)
    outputs = []
    for position, output in enumerate(_outputs(result)):
        output["torch_name"] = str(torch_names[position]) if position < len(torch_names) \
            else None
        outputs.append(output)
    return {
        "ok": bool(converted.ok),
        "format": "mlprogram",
        "compute_precision": options.compute_precision,
        "minimum_deployment_target": options.minimum_deployment_target,
        "specification_version": _specification_version(mlmodel),
        "deployment_target": SPECIFICATION_TARGETS.get(_specification_version(mlmodel)),
        "inputs": [_input(plan, result.spec) for plan in result.inputs],
        "outputs": outputs,
        "metadata": dict(result.metadata),
        "description": _description(mlmodel),
        "preview": _preview(result.metadata),
        "composite_ops": [_composite(kind) for kind in result.composite_ops_applied],
        "graph_passes": [_graph_pass(name) for name in converted.graph_passes_applied],
        "coremltools_passes": _coremltools_passes(result.sourcemap),
        "package": str(result.package_path) if result.package_path else None,
        "sourcemap": str(result.sourcemap_path) if result.sourcemap_path else None,
    }


def _outputs(result: Any) -> list[dict[str, Any]]:
    if result.mlmodel is None:
        return [{"name": name, "shape": None, "dtype": None} for name in result.output_names]
    from torchready.convert.summary import outputs_of

    return [dict(output) for output in outputs_of(result)]


def _input(plan: Any, spec: Any) -> dict[str, Any]:
    data = plan.to_json()
    data["shape_text"] = plan.describe_shape()
    data["note"] = plan.note
    if plan.image:
        data["color_layout"] = "RGB"
        data["preprocessing"] = ("pixels / 255, then the exact ImageNet mean/std inside the model"
                                 if getattr(spec, "imagenet", False) else "pixels / 255")
    return data


def _specification_version(mlmodel: Any) -> int | None:
    try:
        return int(mlmodel.get_spec().specificationVersion) if mlmodel is not None else None
    except Exception:
        return None


def _description(mlmodel: Any) -> dict[str, Any] | None:
    """author / license / version / short description, and the inputs' and outputs' texts."""
    if mlmodel is None:
        return None
    try:
        description = mlmodel.get_spec().description
    except Exception:
        return None
    meta = description.metadata
    return {
        "author": meta.author or None,
        "license": meta.license or None,
        "version": meta.versionString or None,
        "short_description": meta.shortDescription or None,
        "inputs": {feature.name: feature.shortDescription for feature in description.input},
        "outputs": {feature.name: feature.shortDescription for feature in description.output},
    }


def _preview(metadata: Mapping[str, str]) -> dict[str, Any] | None:
    """The Xcode preview keys, parsed: its type and the labels it shows."""
    preview_type = metadata.get(PREVIEW_TYPE_KEY)
    if preview_type is None:
        return None
    try:
        params = json.loads(metadata.get(PREVIEW_PARAMS_KEY) or "{}")
    except ValueError:
        params = {}
    labels = params.get("labels") if isinstance(params, dict) else None
    return {"type": preview_type, "labels": [str(label) for label in labels or []]}


def _composite(kind: str) -> dict[str, Any]:
    from torchready.convert.composite_ops import by_kind

    try:
        return {"kind": kind, "summary": by_kind(kind).summary}
    except KeyError:
        return {"kind": kind, "summary": ""}


def _graph_pass(name: str) -> dict[str, Any]:
    from torchready.convert.graph_passes import by_name

    try:
        return {"name": name, "summary": by_name(name).summary}
    except KeyError:
        return {"name": name, "summary": ""}


def _coremltools_passes(sourcemap: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """coremltools' MIL passes that rewrote ops of the final program, with how many ops each
    (the source map records them per op)."""
    if not sourcemap:
        return []
    counts = Counter(name for op in (sourcemap.get("ops") or {}).values()
                     for name in op.get("passes") or [])
    return [{"name": name, "ops": count} for name, count in counts.most_common()]


# --- parity -------------------------------------------------------------------------------------


def parity(result: Any, excerpts: SourceExcerpts) -> dict[str, Any] | None:
    from torchready.convert.reports.histograms import merge_histograms

    report = result.parity
    if report is None:
        return None
    data = report.to_json()
    histograms: dict[tuple[str, str], list[Any]] = {}
    for comparison in report.comparisons:
        histogram = getattr(comparison, "error_histogram", None)
        if histogram is not None:
            histograms.setdefault((comparison.target, comparison.output), []).append(histogram)
    # In export mode the "torchscript" target ran the ExportedProgram's module: say so.
    label = getattr(report, "label", lambda target: target)
    rows = []
    for row in report.rows:
        described = row.to_json()
        described["label"] = label(row.target)
        merged = merge_histograms(histograms.get((row.target, row.output), []))
        described["error_histogram"] = merged.to_json() if merged is not None else None
        rows.append(described)
    comparisons = []
    for comparison in report.comparisons:
        metrics = comparison.metrics.to_json()
        comparisons.append({
            "target": comparison.target, "case": comparison.case, "output": comparison.output,
            "status": comparison.status, "kind": metrics["kind"],
            "max_abs": metrics["max_abs"], "max_rel": metrics["max_rel"],
            "psnr_db": metrics["psnr_db"], "snr_db": metrics["snr_db"],
            "cosine": metrics["cosine"], "argmax_agreement": metrics["argmax_agreement"],
            "exact_fraction": metrics["exact_fraction"],
            "nonfinite_mismatch": metrics["nonfinite_mismatch"],
            "problems": [f"{check.metric}: {check.detail or check.limit}"
                         for check in comparison.checks if check.status != "pass"]})
    divergence = data.get("divergence")
    recheck = data.get("recheck_fp32")
    if recheck and recheck.get("divergence"):
        recheck["divergence"] = _with_excerpt(recheck["divergence"], excerpts)
    return {
        "status": data["status"],
        "precision": data["precision"],
        "rule": data["rule"],
        "torchscript_rule": data["torchscript_rule"],
        "targets": data["targets"],
        "cases": data["cases"],
        "rows": rows,
        "comparisons": comparisons,
        "failures": data["failures"],
        "warnings": [f"{row.target} output '{row.output}': {'; '.join(row.problems)}"
                     for row in report.rows if row.status == "warn"],
        "errors": data["errors"],
        "cause": data["cause"],
        "fp16_range": data["fp16_range"],
        "divergence": _with_excerpt(divergence, excerpts) if divergence else None,
        "localisation_note": data["localisation_note"],
        "recheck_fp32": recheck,
        "notes": data["notes"],
        "timings": data["timings"],
    }


def _with_excerpt(divergence: dict[str, Any], excerpts: SourceExcerpts) -> dict[str, Any]:
    divergence = dict(divergence)
    path, line = divergence.get("path"), divergence.get("line")
    divergence["excerpt"] = excerpts.excerpt(path, int(line)) if path and line else None
    return divergence


# --- precision ----------------------------------------------------------------------------------


def precision(result: Any) -> dict[str, Any] | None:
    """What --precision auto kept in fp32 (or, after an fp16 failure, would keep); None when
    it does not apply."""
    report = getattr(result, "precision", None)
    return report.to_json() if report is not None else None


# --- time ---------------------------------------------------------------------------------------


def timings(result: Any) -> dict[str, Any]:
    from torchready.convert.pipeline import STAGES

    ordered = [stage for stage in STAGES if stage in result.timings]
    ordered += [stage for stage in result.timings if stage not in ordered]
    stages = [{"stage": stage, "seconds": round(float(result.timings[stage]), 4)}
              for stage in ordered]
    parity_timings = getattr(result.parity, "timings", None) or {}
    return {"stages": stages, "total": round(sum(s["seconds"] for s in stages), 4),
            "parity": {key: round(float(value), 4) for key, value in parity_timings.items()}}
