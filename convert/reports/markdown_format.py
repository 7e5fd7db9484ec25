"""The Markdown report: GitHub-flavoured, for a pull-request comment.

Same content as the HTML report, in what a PR comment renders: headings, pipe tables, fenced code
and collapsible `<details>`. GitHub strips inline SVG, so the error distribution of each output is
a line of block characters (one per half-decade bin of |error|, height by sqrt(count)) with the
range it spans. Text from the model, the user or a library is escaped for table cells.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from torchready.convert.reports import numbers
from torchready.convert.reports.histograms import edge_label, sparkline

STATUS_MARKS = {"pass": "✅ PASS", "warn": "⚠️ WARN", "fail": "❌ FAIL"}


def render(report: dict[str, Any], result: Any = None) -> str:
    parts = [_verdict(report), _model(report), _findings(report["findings"]), _capture(report),
             _coverage(report["coverage"]), _conversion(report["conversion"]),
             _parity(report["parity"]), _precision(report.get("precision")),
             _timings(report["timings"]), _notes(report),
             f"<sub>torchready report schema {report['schema']} version {report['version']} · "
             f"generated {report['generated_at']}</sub>"]
    return "\n\n".join(part.rstrip("\n") for part in parts if part) + "\n"


# --- building blocks ----------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """Text safe in a pipe-table cell: no pipe, no newline, no raw HTML."""
    text = "" if value is None else str(value)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|").replace("\r", " ").replace("\n", " "))


def _code(value: Any) -> str:
    """Inline code in a table cell (backticks inside fall back to plain text)."""
    text = "" if value is None else str(value)
    if "`" in text or "\n" in text:
        return _cell(text)
    escaped = text.replace("|", "\\|")
    return f"`{escaped}`"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()
           ) -> str:
    """`rows` hold cells already escaped by the caller."""
    align = ["---:" if index in numeric else "---" for index in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _details(summary: str, content: str) -> str:
    # Blank lines around the content: GitHub renders Markdown inside <details> only then.
    return f"<details><summary>{_cell(summary)}</summary>\n\n{content}\n\n</details>"


def _fence(lines: Sequence[str], language: str = "") -> str:
    longest = max((len(run) for line in lines for run in re.findall("`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n" + "\n".join(lines) + f"\n{fence}"


def _excerpt(excerpt: dict[str, Any] | None) -> str:
    """The source lines, numbered, the finding's own lines marked with `>`."""
    if not excerpt:
        return ""
    width = len(str(excerpt["start_line"] + len(excerpt["lines"]) - 1))
    shown = []
    for offset, text in enumerate(excerpt["lines"]):
        number = excerpt["start_line"] + offset
        hit = excerpt["line"] <= number <= excerpt["end_line"]
        shown.append(f"{'>' if hit else ' '} {number:>{width}} | {text}")
    return _fence(shown, "python")


# --- sections -----------------------------------------------------------------------------------


def _verdict(report: dict[str, Any]) -> str:
    verdict = report["verdict"]
    model = report["model"]
    counts = verdict["findings"]
    converted = "yes" if verdict["converted"] else f"no (failed at **{verdict['failed_stage']}**)"
    lines = [f"## {STATUS_MARKS.get(verdict['status'], verdict['status'])} · "
             f"{_cell(verdict['headline'])}",
             "",
             f"torchready {report['command']} {_code(model['spec'] or model['class'] or 'model')}"
             f" · converted: {converted} · parity: **{verdict['parity']}** · findings: "
             f"{counts['error']} error, {counts['warning']} warning, {counts['info']} info · "
             f"exit code {verdict['exit_code']}" + (" (--strict)" if verdict["strict"] else "")]
    if verdict["reasons"]:
        lines.append("")
        lines += [f"- {_cell(reason)}" for reason in verdict["reasons"]]
    return "\n".join(lines)


def _model(report: dict[str, Any]) -> str:
    model, environment, options = report["model"], report["environment"], report["options"]
    inputs = ", ".join(f"{numbers.shape(example['shape'])} {example['dtype']}"
                       for example in model["example_inputs"])
    rows = [
        ["model", _code(model["spec"] or "(Python API)")],
        ["class", _code(f"{model['module']}.{model['class']}") if model["class"] else numbers.DASH],
        ["parameters", f"{model['parameters']:,}" if model["parameters"] is not None
         else numbers.DASH],
        ["example inputs", _cell(inputs or numbers.DASH)],
        ["source files", _cell(", ".join(model["source_files"]) or numbers.DASH)],
    ]
    rows += [[_cell(name), _code(version or "not installed")]
             for name, version in environment["packages"].items()]
    rows += [["python", _cell(f"{environment['python']} ({environment['implementation']})")],
             ["platform", _cell(f"{environment['platform']} {environment['machine']}")]]
    rows += [[_cell(f"option: {key}"), _code(numbers.option(value))]
             for key, value in options.items() if key != "arguments"]
    rows += [[_cell(f"argument: {key}"), _code(numbers.option(value))]
             for key, value in (options.get("arguments") or {}).items()]
    return "### Model and environment\n\n" + _table(["", ""], rows)


def _findings(findings: list[dict[str, Any]]) -> str:
    if not findings:
        return ("### Findings\n\nNo findings: the static rules and the dynamic checks found "
                "nothing.")
    rows = [[_code(f["code"]) + " " + _cell(f["name"]), _cell(f["severity"]),
             _code(f"{f['path']}:{f['line']}"), _cell(f"{f['kind']} ({f['origin']})"),
             _cell((f["classification"] or numbers.DASH) + (" · handled" if f["handled"] else ""))]
            for f in findings]
    blocks = []
    for finding in findings:
        fix = finding.get("fix")
        fixed = f" (fix: {fix['applicability']})" if fix else ""
        blocks.append(f"**{finding['code']} {finding['name']}** {finding['severity']} at "
                      f"`{finding['path']}:{finding['line']}:{finding['column']}`{fixed}  \n"
                      f"{_cell(finding['message'])}\n\n" + _excerpt(finding.get("excerpt")))
    static = sum(1 for f in findings if f["kind"] == "static")
    return ("### Findings\n\n"
            f"{len(findings)} finding(s): {static} from the static rules, "
            f"{len(findings) - static} from the dynamic checks.\n\n"
            + _table(["code", "severity", "where", "found by", "classification"], rows)
            + "\n\n" + _details("source excerpts", "\n\n".join(blocks)))


def _capture(report: dict[str, Any]) -> str:
    capture = report["capture"]
    parts = ["### Capture"]
    if capture["mode"] is None and capture["error"] is None:
        parts.append("The model was not captured (an earlier stage failed).")
    else:
        parts.append(f"Mode: **{capture['mode']}**. {_cell(capture['reason'])}")
        if capture["error"]:
            where = f" ({capture['error_location']})" if capture["error_location"] else ""
            parts.append(f"**Capture failed:** {_cell(capture['error'])}{_cell(where)}")
        if capture["checks"]:
            parts.append(_table(["check against eager PyTorch", "result", "detail"], [
                [_cell(check["name"]), "pass" if check["ok"] else "**differs**",
                 _cell(check["detail"])] for check in capture["checks"]]))
    dynamic = [f for f in report["findings"] if f["kind"] == "dynamic"
               and f["origin"] in ("trace", "script", "probe", "hybrid", "export")]
    if dynamic:
        parts.append("#### TracerWarnings and other capture findings")
        parts.append(_table(["code", "where", "classification", "evidence"], [
            [_code(f["code"]) + " " + _cell(f["name"]), _code(f"{f['path']}:{f['line']}"),
             _cell(f["classification"] or numbers.DASH),
             _cell((f.get("details") or {}).get("evidence") or f["message"])] for f in dynamic]))
    probes = report["shape_probes"]
    if probes:
        parts.append("#### Shape probes")
        parts.append(_table(["input", "dim", "role", "example → probe", "result", "detail"], [
            [_code(p["input"]), str(p["dim"]), _cell(p["role"]),
             f"{p['example_size']} → {p['probe_size']}",
             f"**{p['status']}**" if p["status"] != "follows" else p["status"],
             _cell(p["detail"] + "".join(f"; {line['code']} at {line['path']}:{line['line']}"
                                         for line in p.get("lines", [])))]
            for p in probes], numeric=(1,)))
    return "\n\n".join(parts)


def _coverage(coverage: dict[str, Any] | None) -> str:
    if coverage is None:
        return "### Op coverage\n\nNot checked (capture failed)."
    rows = []
    for op in coverage["ops"]:
        places = op["lines"] or [f"{place} (library)" for place in op["library_lines"]]
        shown = ", ".join(places[:4]) + (f", … {len(places) - 4} more" if len(places) > 4 else "")
        status = op["status"] if op["status"] == "supported" else f"**{op['status']}**"
        rows.append([_code(op["kind"]), str(op["count"]), status, _cell(shown)])
    table = _table(["op kind", "count", "coremltools", "lines"], rows, numeric=(1,))
    summary = (f"{coverage['kinds']} op kinds: {coverage['unsupported']} unsupported, "
               f"{coverage['composite']} converted by torchready's composite ops.")
    return "### Op coverage\n\n" + summary + "\n\n" + (
        table if not coverage["ok"] else _details("op table", table))


def _conversion(conversion: dict[str, Any] | None) -> str:
    if conversion is None:
        return "### Conversion\n\nNot converted (an earlier stage failed)."
    target = conversion["minimum_deployment_target"] or "coremltools' default"
    if conversion["deployment_target"]:
        target += (f" (specification {conversion['specification_version']}: "
                   f"{conversion['deployment_target']})")
    parts = ["### Conversion",
             f"Format {conversion['format']}, compute precision "
             f"**{conversion['compute_precision']}**, deployment target {_cell(target)}, package "
             + (_code(conversion["package"]) if conversion["package"] else "not written") + ".",
             _table(["input", "kind", "shape", "Core ML dtype", "PyTorch dtype", "note"], [
                 [_code(i["name"]), _cell(i["kind"]), _cell(i["shape_text"]),
                  _cell(i["coreml_dtype"]), _cell(i["torch_dtype"]),
                  _cell(i.get("preprocessing") or i.get("note") or "")]
                 for i in conversion["inputs"]]),
             _table(["output", "shape", "dtype", "PyTorch name"], [
                 [_code(o["name"]), _cell(numbers.shape(o.get("shape"))),
                  _cell(o.get("dtype") or numbers.DASH), _cell(o.get("torch_name") or numbers.DASH)]
                 for o in conversion["outputs"]])]
    if conversion["metadata"]:
        parts.append(_table(["metadata key", "value"], [
            [_code(key), _cell(value)] for key, value in conversion["metadata"].items()]))
    applied = [[f"composite op {_code(op['kind'])}", _cell(op["summary"])]
               for op in conversion["composite_ops"]]
    applied += [[f"graph pass {_code(p['name'])}", _cell(p["summary"])]
                for p in conversion["graph_passes"]]
    if applied:
        parts.append(_table(["applied", "why"], applied))
    return "\n\n".join(parts)


def _distribution(histogram: dict[str, Any] | None) -> str:
    if not histogram:
        return numbers.DASH
    counts, edges = histogram["counts"], histogram["log10_edges"]
    text = (f"`{sparkline(counts)}` {edge_label(edges[0])} … {edge_label(edges[-1])}"
            if counts else "all exact")
    if histogram["nonfinite"]:
        text += f" · **NaN/inf: {histogram['nonfinite']}**"
    return text


def _parity(parity: dict[str, Any] | None) -> str:
    if parity is None:
        return "### Parity\n\nParity was not checked (skipped, or an earlier stage failed)."
    cases = ", ".join(f"{case['label']} ({case['shapes']})" for case in parity["cases"])
    rows = [[_cell(row.get("label") or row["target"]), _code(row["output"]),
             STATUS_MARKS.get(row["status"], ""),
             numbers.metric(row["max_abs"]), numbers.metric(row["max_rel"]),
             numbers.decibels(row["psnr_db"]), numbers.decibels(row["snr_db"]),
             numbers.cosine(row["cosine"]), _cell(numbers.agreement(row)),
             _distribution(row.get("error_histogram")), _cell("; ".join(row["problems"]))]
            for row in parity["rows"]]
    parts = [f"### Parity {STATUS_MARKS.get(parity['status'], parity['status'])}",
             f"Compared eager PyTorch with {', '.join(parity['targets'])} on {_cell(cases)}. "
             f"Rule: {_cell(parity['rule'])}; TorchScript: {_cell(parity['torchscript_rule'])}.",
             _table(["target", "output", "verdict", "max abs", "max rel", "PSNR dB", "SNR dB",
                     "cosine", "agreement", "abs error distribution (log)", "problems"], rows,
                    numeric=(3, 4, 5, 6, 7))]
    parts += [f"- ❌ {_cell(line)}" for line in parity["failures"]]
    parts += [f"- fp16 range: {_cell(line)}" for line in parity["fp16_range"]]
    divergence = _divergence(parity)
    if divergence:
        parts.append(divergence)
    parts += [f"- note: {_cell(note)}" for note in parity["notes"]]
    return "\n\n".join(parts)


def _divergence(parity: dict[str, Any]) -> str:
    parts = []
    if parity["cause"]:
        parts.append(f"Cause: **{parity['cause']}**.")
    if parity["divergence"]:
        parts.append(_divergence_block(parity["divergence"]))
    elif parity["localisation_note"]:
        parts.append(_cell(parity["localisation_note"]))
    recheck = parity["recheck_fp32"]
    if recheck:
        if recheck.get("error"):
            parts.append(f"Converted again at fp32: failed ({_cell(recheck['error'])}).")
        elif recheck["status"] != "fail":
            parts.append(f"Converted again at fp32: parity **{recheck['status']}**: the failure "
                         "is an fp16 precision effect, not a conversion error.")
        else:
            parts.append("Converted again at fp32: parity **fail** too: the converted program "
                         "computes something else than PyTorch.")
            if recheck.get("divergence"):
                parts.append(_divergence_block(recheck["divergence"]))
    return "#### Where it diverges\n\n" + "\n\n".join(parts) if parts else ""


def _divergence_block(divergence: dict[str, Any]) -> str:
    lines = [f"**{_cell(divergence['headline'])}**", "",
             f"- on input: {_cell(divergence['case'])}", f"- why: {_cell(divergence['reason'])}",
             f"- agreed before it: {divergence['compared_before']} aligned value(s)"]
    if divergence.get("origin"):
        lines.append(f"- emitted by: {_code(divergence['origin'])}")
    text = "\n".join(lines)
    excerpt = _excerpt(divergence.get("excerpt"))
    if excerpt:
        text += "\n\n" + excerpt
    if divergence.get("hint"):
        text += "\n\n" + _cell(divergence["hint"])
    return text


def _precision(precision: dict[str, Any] | None) -> str:
    if precision is None:
        return ""
    title = "Precision hint" if precision["outcome"] == "suggested" else "Precision (auto)"
    parts = [f"### {title}", f"**{_cell(precision['headline'])}**"]
    facts = []
    if precision.get("before") and precision["outcome"] != "fp16":
        facts.append(f"- parity with every op in fp16: {_cell(_figures(precision['before']))}")
    if precision.get("after"):
        facts.append(f"- parity of the model kept: {_cell(_figures(precision['after']))}")
    if precision["outcome"] in ("mixed", "fp32", "failed"):
        facts.append(f"- search: {len(precision['rounds'])} round(s), "
                     f"{precision['conversions']} conversion(s), "
                     f"{numbers.seconds(precision['seconds'])}")
    if facts:
        parts.append("\n".join(facts))
    if precision["fp32_ops"]:
        rows = [[_code(op["saved_op"] or op["op"]), _code(op["op_type"]),
                 _code(op["torch_kind"] or ""), _code(f"{op['path']}:{op['line']}")
                 if op["path"] else "", _cell(op["reason"]), str(op["round"])]
                for op in precision["fp32_ops"]]
        parts.append(_table(["MIL op kept in fp32", "type", "PyTorch op", "source line", "why",
                             "round"], rows, numeric=(5,)))
    return "\n\n".join(parts)


def _figures(figures: dict[str, Any]) -> str:
    if figures["status"] == "fail" and figures["failures"]:
        return f"fails at {figures['precision']}: {figures['failures'][0]}"
    return (f"{figures['status']} at {figures['precision']}, worst PSNR "
            f"{numbers.decibels(figures['psnr_db'])} dB, max abs "
            f"{numbers.metric(figures['max_abs'])}")


def _timings(timings: dict[str, Any]) -> str:
    if not timings["stages"]:
        return ""
    rows = [[s["stage"], numbers.seconds(s["seconds"])] for s in timings["stages"]]
    rows.append(["**total**", f"**{numbers.seconds(timings['total'])}**"])
    return "### Timings\n\n" + _table(["stage", "seconds"], rows, numeric=(1,))


def _notes(report: dict[str, Any]) -> str:
    parts = []
    if report["notes"]:
        parts.append("\n".join(f"- {_cell(note)}" for note in report["notes"]))
    for path, diff in (report.get("lint_fixes") or {}).items():
        parts.append(_details(f"lint --fix changed {path}", _fence(diff.splitlines(), "diff")))
    return "### Notes\n\n" + "\n\n".join(parts) if parts else ""
