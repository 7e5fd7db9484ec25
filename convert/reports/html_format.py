"""The HTML report: one self-contained file a reviewer opens from a PR artifact.

Inline CSS and SVG only: no script, no font, no image, no link to fetch (the page must render the
same offline and behind any content-security policy). Every text that comes from the model, the
user or a library goes through `html.escape`. Light and dark follow `prefers-color-scheme`.
Long sections (the op table, per-input metrics, notes) are collapsible <details>.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from torchready.convert.reports import numbers
from torchready.convert.reports.charts import histogram_svg, timings_svg

STATUS_WORDS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}

CSS = """
:root { color-scheme: light dark;
  --bg: #ffffff; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --panel: #f6f8fa;
  --accent: #0969da; --pass: #1a7f37; --warn: #9a6700; --fail: #cf222e;
  --pass-bg: #dafbe1; --warn-bg: #fff8c5; --fail-bg: #ffebe9; --hit: #fff8c5; }
@media (prefers-color-scheme: dark) { :root {
  --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --line: #3d444d; --panel: #151b23;
  --accent: #4493f8; --pass: #3fb950; --warn: #d29922; --fail: #f85149;
  --pass-bg: #12261e; --warn-bg: #272115; --fail-bg: #2d1214; --hit: #3a3218; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); line-height: 1.45;
  font: 15px/1.45 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue",
  Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 1.45rem; margin: 0.2rem 0 0.4rem; }
h2 { font-size: 1.2rem; margin: 2rem 0 0.6rem; padding-bottom: 0.3rem;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1rem; margin: 1.2rem 0 0.4rem; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas,
  "Liberation Mono", monospace; font-size: 0.86em; }
a { color: var(--accent); }
.verdict { border: 1px solid var(--line); border-left: 8px solid var(--muted);
  border-radius: 8px; padding: 14px 18px; background: var(--panel); }
.verdict.status-pass { border-left-color: var(--pass); background: var(--pass-bg); }
.verdict.status-warn { border-left-color: var(--warn); background: var(--warn-bg); }
.verdict.status-fail { border-left-color: var(--fail); background: var(--fail-bg); }
.badge { display: inline-block; font-weight: 700; font-size: 0.78rem; letter-spacing: 0.06em;
  padding: 2px 8px; border-radius: 999px; color: #fff; background: var(--muted); }
.badge.status-pass, .pill.status-pass { background: var(--pass); }
.badge.status-warn, .pill.status-warn { background: var(--warn); }
.badge.status-fail, .pill.status-fail { background: var(--fail); }
.pill { display: inline-block; font-size: 0.75rem; font-weight: 600; color: #fff;
  background: var(--muted); border-radius: 999px; padding: 0 7px; }
.subtitle { color: var(--muted); margin: 0 0 0.5rem; }
.facts { display: flex; flex-wrap: wrap; gap: 6px 22px; list-style: none; padding: 0;
  margin: 0.4rem 0; }
.facts b { font-weight: 600; }
.reasons { margin: 0.3rem 0 0; padding-left: 1.2rem; }
nav { margin: 14px 0 0; font-size: 0.9rem; }
nav a { margin-right: 14px; text-decoration: none; }
table { border-collapse: collapse; margin: 0.4rem 0 0.8rem; font-size: 0.9rem; }
th, td { border: 1px solid var(--line); padding: 4px 9px; text-align: left;
  vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.status-fail td { background: var(--fail-bg); }
tr.status-warn td { background: var(--warn-bg); }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; margin: 0.4rem 0; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; }
.finding { border: 1px solid var(--line); border-radius: 6px; margin: 10px 0; padding: 8px 12px; }
.finding header { display: flex; flex-wrap: wrap; gap: 4px 12px; align-items: baseline; }
.finding .where { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.severity-error { color: var(--fail); font-weight: 700; }
.severity-warning { color: var(--warn); font-weight: 700; }
.severity-info { color: var(--muted); font-weight: 700; }
.muted { color: var(--muted); }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px;
  padding: 8px 0; overflow-x: auto; margin: 6px 0; }
pre .src { display: block; padding: 0 12px; white-space: pre; }
pre .src.hit { background: var(--hit); }
pre .ln { display: inline-block; min-width: 3.2em; color: var(--muted); user-select: none; }
pre mark { background: none; color: inherit; text-decoration: underline wavy var(--fail);
  text-underline-offset: 3px; }
pre.diff { padding: 8px 12px; white-space: pre; }
.charts { display: flex; flex-wrap: wrap; gap: 12px 24px; }
figure { margin: 0; }
figcaption { font-size: 0.85rem; color: var(--muted); }
.chart-axis { stroke: var(--muted); stroke-width: 1; }
.chart-bar { fill: var(--accent); }
.chart-text { fill: var(--fg); font-size: 10px; font-family: inherit; }
.chart-bad { fill: var(--fail); font-weight: 700; }
details { margin: 0.4rem 0; }
summary { cursor: pointer; color: var(--accent); }
footer { margin-top: 2.5rem; color: var(--muted); font-size: 0.8rem; }
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def render(report: dict[str, Any], result: Any = None) -> str:
    """The page; `result` is unused (the report dict holds everything shown)."""
    return to_html(report)


def to_html(report: dict[str, Any]) -> str:
    verdict = report["verdict"]
    title = f"torchready {report['command']}: {report['model']['spec'] or report['model']['class']}"
    body = [
        _verdict(report),
        _nav(report),
        _model(report),
        _findings(report["findings"]),
        _capture(report),
        _coverage(report["coverage"]),
        _conversion(report["conversion"]),
        _parity(report["parity"]),
        _precision(report.get("precision")),
        _timings(report["timings"]),
        _notes(report),
        f"<footer>torchready report schema {_e(report['schema'])} version "
        f"{_e(report['version'])} · generated {_e(report['generated_at'])}</footer>",
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<meta name=\"color-scheme\" content=\"light dark\">\n"
            f"<title>{_e(title)} — {_e(STATUS_WORDS.get(verdict['status'], verdict['status']))}"
            f"</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(part for part in body if part)
            + "\n</main>\n</body>\n</html>\n")


# --- building blocks ----------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Sequence[int] = (),
           row_classes: Sequence[str] | None = None, table_id: str | None = None) -> str:
    """`rows` hold HTML already escaped by the caller."""
    attributes = f' id="{_e(table_id)}"' if table_id else ""
    head = "".join(f"<th>{_e(header)}</th>" for header in headers)
    lines = [f"<table{attributes}><thead><tr>{head}</tr></thead><tbody>"]
    for index, row in enumerate(rows):
        cls = f' class="{row_classes[index]}"' if row_classes and row_classes[index] else ""
        cells = "".join(f'<td class="num">{cell}</td>' if column in numeric else f"<td>{cell}</td>"
                        for column, cell in enumerate(row))
        lines.append(f"<tr{cls}>{cells}</tr>")
    lines.append("</tbody></table>")
    return "".join(lines)


def _kv(pairs: Iterable[tuple[str, str]]) -> str:
    """A definition list; values are HTML already escaped by the caller."""
    return "<dl class=\"kv\">" + "".join(f"<dt>{_e(key)}</dt><dd>{value}</dd>"
                                         for key, value in pairs) + "</dl>"


def _pill(status: str) -> str:
    return f'<span class="pill status-{_e(status)}">{_e(status)}</span>'


def _details(summary: str, content: str, open_: bool = False) -> str:
    return (f"<details{' open' if open_ else ''}><summary>{_e(summary)}</summary>"
            f"{content}</details>")


def _excerpt(excerpt: dict[str, Any] | None) -> str:
    """The source lines around a finding, its line(s) highlighted, its columns underlined."""
    if not excerpt:
        return ""
    first, last = excerpt["line"], excerpt["end_line"]
    lines = []
    for offset, text in enumerate(excerpt["lines"]):
        number = excerpt["start_line"] + offset
        hit = first <= number <= last
        if hit and number == first:
            start = max(0, excerpt["column"] - 1)
            stop = excerpt["end_column"] - 1 if last == first else len(text)
            stop = max(start, min(len(text), stop))
            shown = f"{_e(text[:start])}<mark>{_e(text[start:stop])}</mark>{_e(text[stop:])}"
        else:
            shown = _e(text)
        lines.append(f'<span class="src{" hit" if hit else ""}"><span class="ln">{number}'
                     f"</span>{shown}</span>")
    return f'<pre class="excerpt"><code>{"".join(lines)}</code></pre>'


# --- sections -----------------------------------------------------------------------------------


def _verdict(report: dict[str, Any]) -> str:
    verdict = report["verdict"]
    status = verdict["status"]
    model = report["model"]
    counts = verdict["findings"]
    facts = [
        ("converted", "yes" if verdict["converted"]
         else f"no (failed at {verdict['failed_stage']})"),
        ("parity", verdict["parity"]),
        ("findings", f"{counts['error']} error · {counts['warning']} warning · "
                     f"{counts['info']} info"),
        ("exit code", str(verdict["exit_code"]) + (" (--strict)" if verdict["strict"] else "")),
    ]
    reasons = "".join(f"<li>{_e(reason)}</li>" for reason in verdict["reasons"])
    return (f'<header id="verdict" class="verdict status-{_e(status)}" '
            f'data-status="{_e(status)}">'
            f'<span class="badge status-{_e(status)}">{_e(STATUS_WORDS.get(status, status))}'
            f"</span><h1>{_e(verdict['headline'])}</h1>"
            f'<p class="subtitle">torchready {_e(report["command"])} '
            f"<code>{_e(model['spec'] or model['class'] or 'model')}</code></p>"
            '<ul class="facts">' + "".join(f"<li>{_e(key)}: <b>{_e(value)}</b></li>"
                                          for key, value in facts) + "</ul>"
            + (f'<ul class="reasons">{reasons}</ul>' if reasons else "") + "</header>")


def _nav(report: dict[str, Any]) -> str:
    links = [("model", "Model"), ("findings", f"Findings ({len(report['findings'])})"),
             ("capture", "Capture"), ("coverage", "Op coverage"), ("conversion", "Conversion"),
             ("parity", "Parity"), ("timings", "Timings"), ("notes", "Notes")]
    if report.get("precision"):
        links.insert(links.index(("timings", "Timings")), ("precision", "Precision"))
    return "<nav>" + "".join(f'<a href="#{anchor}">{_e(text)}</a>' for anchor, text in links) \
        + "</nav>"


def _model(report: dict[str, Any]) -> str:
    model, environment, options = report["model"], report["environment"], report["options"]
    inputs = ", ".join(f"{numbers.shape(example['shape'])} {example['dtype']}"
                       for example in model["example_inputs"])
    model_pairs = [
        ("model", f"<code>{_e(model['spec'] or '(Python API)')}</code>"),
        ("class", f"<code>{_e(model['module'])}.{_e(model['class'])}</code>"
         if model["class"] else numbers.DASH),
        ("parameters", _e(f"{model['parameters']:,}") if model["parameters"] is not None
         else numbers.DASH),
        ("example inputs", _e(inputs or numbers.DASH)),
        ("source files", _e(", ".join(model["source_files"]) or numbers.DASH)),
    ]
    packages = environment["packages"]
    environment_pairs = [(name, f"<code>{_e(version or 'not installed')}</code>")
                         for name, version in packages.items()]
    environment_pairs += [
        ("python", _e(f"{environment['python']} ({environment['implementation']})")),
        ("platform", _e(f"{environment['platform']} {environment['machine']}")),
    ]
    settings = {key: value for key, value in options.items() if key != "arguments"}
    option_pairs = [(key, f"<code>{_e(numbers.option(value))}</code>")
                    for key, value in settings.items()]
    arguments = options.get("arguments") or {}
    if arguments:
        option_pairs.append(("command line", _kv(
            (key, f"<code>{_e(numbers.option(value))}</code>") for key, value in arguments.items())))
    return ('<section id="model"><h2>Model and environment</h2>'
            '<div class="charts"><div><h3>Model</h3>' + _kv(model_pairs)
            + "</div><div><h3>Software</h3>" + _kv(environment_pairs) + "</div>"
            "<div><h3>Options</h3>" + _kv(option_pairs) + "</div></div></section>")


def _findings(findings: list[dict[str, Any]]) -> str:
    if not findings:
        return ('<section id="findings"><h2>Findings</h2>'
                "<p>No findings: the static rules and the dynamic checks found nothing.</p>"
                "</section>")
    rows = []
    for number, finding in enumerate(findings, 1):
        rows.append([
            f'<a href="#finding-{number}" class="mono">{_e(finding["code"])}</a> '
            f"{_e(finding['name'])}",
            f'<span class="severity-{_e(finding["severity"])}">{_e(finding["severity"])}</span>',
            f'<span class="mono">{_e(finding["path"])}:{_e(finding["line"])}</span>',
            _e(f"{finding['kind']} ({finding['origin']})"),
            _e(finding["classification"] or numbers.DASH)
            + (" · handled" if finding["handled"] else ""),
        ])
    articles = [_finding(number, finding) for number, finding in enumerate(findings, 1)]
    static = sum(1 for f in findings if f["kind"] == "static")
    return ('<section id="findings"><h2>Findings</h2>'
            f"<p>{len(findings)} finding(s): {static} from the static rules (your source as "
            f"written), {len(findings) - static} from the dynamic checks (what tracing, "
            "scripting, shape probing and conversion actually did).</p>"
            + _table(["code", "severity", "where", "found by", "classification"], rows,
                     table_id="findings-table")
            + "".join(articles) + "</section>")


def _finding(number: int, finding: dict[str, Any]) -> str:
    details = finding.get("details") or {}
    extra = []
    for key in ("evidence", "warning", "emitted_at", "confirmed_by", "lines"):
        if details.get(key):
            value = details[key]
            text = "; ".join(map(str, value)) if isinstance(value, list) else str(value)
            extra.append((key.replace("_", " "), _e(text)))
    fix = finding.get("fix")
    if fix:
        edits = "; ".join(f"line {edit['line']}: {edit['content']!r}" for edit in fix["edits"])
        extra.append(("fix", _e(f"{fix['applicability']}: {edits}")))
    return (f'<article class="finding" id="finding-{number}"><header>'
            f'<span class="severity-{_e(finding["severity"])}">{_e(finding["severity"])}</span>'
            f'<span class="where">{_e(finding["path"])}:{_e(finding["line"])}:'
            f"{_e(finding['column'])}</span>"
            f"<code>{_e(finding['code'])}</code> <b>{_e(finding['name'])}</b>"
            f'<span class="muted">{_e(finding["kind"])} · {_e(finding["origin"])}'
            + (f" · {_e(finding['classification'])}" if finding["classification"] else "")
            + "</span></header>"
            f"<p>{_e(finding['message'])}</p>" + _excerpt(finding.get("excerpt"))
            + (_kv(extra) if extra else "") + "</article>")


def _capture(report: dict[str, Any]) -> str:
    capture = report["capture"]
    parts = ['<section id="capture"><h2>Capture</h2>']
    if capture["mode"] is None and capture["error"] is None:
        parts.append("<p>The model was not captured (an earlier stage failed).</p>")
    else:
        pairs = [("mode", f"<b>{_e(capture['mode'])}</b>"), ("why", _e(capture["reason"]))]
        if capture["traced_submodules"]:
            pairs.append(("traced submodules", _e(", ".join(capture["traced_submodules"]))))
        if capture["frozen"] is not None:
            pairs.append(("frozen", "yes" if capture["frozen"] else "no"))
        if capture["error"]:
            where = f" ({capture['error_location']})" if capture["error_location"] else ""
            pairs.append(("error", f'<span class="severity-error">{_e(capture["error"])}'
                                   f"{_e(where)}</span>"))
        parts.append(_kv(pairs))
        if capture["checks"]:
            parts.append("<h3>Checks of the captured module against eager PyTorch</h3>")
            parts.append(_table(["check", "result", "detail"], [
                [_e(check["name"]), _pill("pass" if check["ok"] else "warn"),
                 _e(check["detail"])] for check in capture["checks"]]))
    dynamic = [f for f in report["findings"] if f["kind"] == "dynamic"
               and f["origin"] in ("trace", "script", "probe", "hybrid", "export")]
    if dynamic:
        parts.append("<h3>TracerWarnings and other capture findings</h3>")
        parts.append(_table(["code", "where", "classification", "evidence"], [
            [f"<code>{_e(f['code'])}</code> {_e(f['name'])}",
             f'<span class="mono">{_e(f["path"])}:{_e(f["line"])}</span>',
             _e(f["classification"] or numbers.DASH),
             _e((f.get("details") or {}).get("evidence") or f["message"])]
            for f in dynamic]))
    probes = report["shape_probes"]
    if probes:
        parts.append("<h3>Shape probing</h3><p class=\"muted\">Each input dimension at another "
                     "size: does the TorchScript module follow it like eager PyTorch?</p>")
        parts.append(_table(["input", "dim", "role", "example → probe", "result", "detail"], [
            [_e(probe["input"]), _e(probe["dim"]), _e(probe["role"]),
             _e(f"{probe['example_size']} → {probe['probe_size']}"),
             _pill({"follows": "pass", "specialized": "fail"}.get(probe["status"], "warn"))
             + " " + _e(probe["status"]),
             _e(probe["detail"] + "".join(f"; {line['code']} at {line['path']}:{line['line']}"
                                          for line in probe.get("lines", [])))]
            for probe in probes], numeric=(1,)))
    if capture["notes"]:
        parts.append(_details(f"capture notes ({len(capture['notes'])})", "<ul>" + "".join(
            f"<li>{_e(note)}</li>" for note in capture["notes"]) + "</ul>"))
    parts.append("</section>")
    return "".join(parts)


def _coverage(coverage: dict[str, Any] | None) -> str:
    if coverage is None:
        return ('<section id="coverage"><h2>Op coverage</h2>'
                "<p>Not checked (capture failed).</p></section>")
    rows, classes = [], []
    for op in coverage["ops"]:
        places = op["lines"] or [f"{place} (library)" for place in op["library_lines"]]
        shown = ", ".join(places[:6]) + (f", … {len(places) - 6} more" if len(places) > 6 else "")
        status = {"unsupported": "fail", "composite": "warn"}.get(op["status"], "pass")
        rows.append([f"<code>{_e(op['kind'])}</code>", _e(op["count"]),
                     _pill(status) + " " + _e(op["status"]),
                     f'<span class="mono">{_e(shown)}</span>'])
        classes.append(f"status-{status}" if status != "pass" else "")
    summary = (f"{coverage['kinds']} op kinds: {coverage['unsupported']} unsupported, "
               f"{coverage['composite']} converted by torchready's composite ops")
    table = _table(["op kind", "count", "coremltools", "lines"], rows, numeric=(1,),
                   row_classes=classes, table_id="coverage-table")
    return (f'<section id="coverage"><h2>Op coverage</h2><p>{_e(summary)}.</p>'
            + _details("op table", table, open_=not coverage["ok"] or len(rows) <= 12)
            + "</section>")


def _conversion(conversion: dict[str, Any] | None) -> str:
    if conversion is None:
        return ('<section id="conversion"><h2>Conversion</h2>'
                "<p>Not converted (an earlier stage failed).</p></section>")
    target = conversion["minimum_deployment_target"] or "coremltools' default"
    if conversion["deployment_target"]:
        target += f" (specification {conversion['specification_version']}: " \
                  f"{conversion['deployment_target']})"
    parts = ['<section id="conversion"><h2>Conversion</h2>', _kv([
        ("format", _e(conversion["format"])),
        ("compute precision", f"<b>{_e(conversion['compute_precision'])}</b>"),
        ("deployment target", _e(target)),
        ("package", f"<code>{_e(conversion['package'])}</code>" if conversion["package"]
         else "not written"),
    ])]
    parts.append("<h3>Inputs</h3>")
    parts.append(_table(["name", "kind", "shape", "Core ML dtype", "PyTorch dtype", "flexible",
                         "note"], [
        [f"<code>{_e(i['name'])}</code>", _e(i["kind"]), _e(i["shape_text"]),
         _e(i["coreml_dtype"]), _e(i["torch_dtype"]), _e(_flexible(i)),
         _e(i.get("preprocessing") or i.get("note") or "")]
        for i in conversion["inputs"]]))
    parts.append("<h3>Outputs</h3>")
    parts.append(_table(["name", "shape", "dtype", "PyTorch name"], [
        [f"<code>{_e(o['name'])}</code>", _e(numbers.shape(o.get("shape"))),
         _e(o.get("dtype") or numbers.DASH), _e(o.get("torch_name") or numbers.DASH)]
        for o in conversion["outputs"]]))
    preview = conversion["preview"]
    if preview:
        labels = preview["labels"]
        parts.append("<h3>Xcode preview</h3>" + _kv([
            ("type", f"<code>{_e(preview['type'])}</code>"),
            ("labels", _e(f"{len(labels)}: " + ", ".join(labels)) if labels else numbers.DASH)]))
    description = conversion["description"] or {}
    described = [(key.replace("_", " "), _e(description[key]))
                 for key in ("author", "license", "version", "short_description")
                 if description.get(key)]
    metadata_rows = [[f"<code>{_e(key)}</code>", f'<span class="mono">{_e(value)}</span>']
                     for key, value in conversion["metadata"].items()]
    parts.append("<h3>Metadata</h3>" + (_kv(described) if described else "")
                 + _table(["key", "value"], metadata_rows))
    applied = []
    for op in conversion["composite_ops"]:
        applied.append([f"composite op <code>{_e(op['kind'])}</code>", _e(op["summary"])])
    for graph_pass in conversion["graph_passes"]:
        applied.append([f"graph pass <code>{_e(graph_pass['name'])}</code>",
                        _e(graph_pass["summary"])])
    parts.append("<h3>Composite ops and graph passes</h3>")
    parts.append(_table(["applied", "why"], applied) if applied else
                 "<p>None needed: coremltools converted every op with its own converters.</p>")
    if conversion["coremltools_passes"]:
        parts.append(_details(
            "coremltools passes that rewrote ops of the final program",
            _table(["pass", "ops rewritten"], [[f"<code>{_e(p['name'])}</code>", _e(p["ops"])]
                                               for p in conversion["coremltools_passes"]],
                   numeric=(1,))))
    parts.append("</section>")
    return "".join(parts)


def _flexible(data: dict[str, Any]) -> str:
    if data.get("enumerated_shapes"):
        return "shapes: " + " | ".join("×".join(map(str, s)) for s in data["enumerated_shapes"])
    flexible = data.get("flexible") or {}
    return ", ".join(f"dim {dim}: {low}..{'' if high is None else high}"
                     for dim, (low, high) in flexible.items()) or numbers.DASH


def _parity(parity: dict[str, Any] | None) -> str:
    if parity is None:
        return ('<section id="parity"><h2>Parity</h2><p>Parity was not checked (skipped, or '
                "an earlier stage failed).</p></section>")
    cases = ", ".join(f"{case['label']} ({case['shapes']})" for case in parity["cases"])
    parts = ['<section id="parity"><h2>Parity ' + _pill(parity["status"]) + "</h2>",
             _kv([("compared", _e(" vs ".join(["eager PyTorch"] + parity["targets"]))),
                  ("inputs", _e(cases)),
                  ("rule", _e(parity["rule"])),
                  ("TorchScript rule", _e(parity["torchscript_rule"]))])]
    rows, classes = [], []
    for row in parity["rows"]:
        rows.append([_e(row.get("label") or row["target"]), f"<code>{_e(row['output'])}</code>",
                     _pill(row["status"]), numbers.metric(row["max_abs"]),
                     numbers.metric(row["max_rel"]), numbers.decibels(row["psnr_db"]),
                     numbers.decibels(row["snr_db"]), numbers.cosine(row["cosine"]),
                     _e(numbers.agreement(row)), _e("; ".join(row["problems"]))])
        classes.append(f"status-{row['status']}" if row["status"] != "pass" else "")
    parts.append("<h3>Per output (worst over all inputs)</h3>")
    parts.append(_table(["target", "output", "verdict", "max abs", "max rel", "PSNR dB",
                         "SNR dB", "cosine", "agreement", "problems"], rows,
                        numeric=(3, 4, 5, 6, 7, 8), row_classes=classes,
                        table_id="parity-table"))
    for line in parity["failures"]:
        parts.append(f'<p class="severity-error">{_e(line)}</p>')
    for line in parity["errors"]:
        parts.append(f'<p class="severity-error">{_e(line)}</p>')
    for line in parity["fp16_range"]:
        parts.append(f"<p><b>fp16 range</b> {_e(line)}</p>")
    charts = []
    for row in parity["rows"]:
        histogram = row.get("error_histogram")
        if row["target"] == "torchscript" or not histogram:
            continue
        label = f"|torch − {row['target']}| of output {row['output']}"
        charts.append(f"<figure>{histogram_svg(histogram, label)}<figcaption>{_e(label)}, "
                      f"{_e(row['cases'])} input(s), {_e(histogram['total'])} values"
                      "</figcaption></figure>")
    if charts:
        parts.append("<h3>Error distribution per output</h3>"
                     f'<div class="charts">{"".join(charts)}</div>')
    per_input = [[_e(c["target"]), _e(c["case"]), f"<code>{_e(c['output'])}</code>",
                  _pill(c["status"]), numbers.metric(c["max_abs"]), numbers.metric(c["max_rel"]),
                  numbers.decibels(c["psnr_db"]), numbers.decibels(c["snr_db"]),
                  numbers.cosine(c["cosine"]), _e(numbers.agreement(c)),
                  _e("; ".join(c["problems"]))] for c in parity["comparisons"]]
    parts.append(_details(f"per input ({len(per_input)} comparisons)", _table(
        ["target", "input", "output", "verdict", "max abs", "max rel", "PSNR dB", "SNR dB",
         "cosine", "agreement", "problems"], per_input, numeric=(4, 5, 6, 7, 8, 9),
        table_id="parity-per-input")))
    parts.append(_divergence(parity))
    for note in parity["notes"]:
        parts.append(f'<p class="muted">note: {_e(note)}</p>')
    parts.append("</section>")
    return "".join(parts)


def _divergence(parity: dict[str, Any]) -> str:
    parts = []
    divergence = parity["divergence"]
    if divergence or parity["localisation_note"] or parity["recheck_fp32"]:
        parts.append('<h3 id="divergence">Where it diverges</h3>')
    if parity["cause"]:
        parts.append(_kv([("cause", f"<b>{_e(parity['cause'])}</b>")]))
    if divergence:
        parts.append(_divergence_block(divergence))
    elif parity["localisation_note"]:
        parts.append(f"<p>{_e(parity['localisation_note'])}</p>")
    recheck = parity["recheck_fp32"]
    if recheck:
        if recheck.get("error"):
            parts.append(f"<p>Converted again at fp32: failed ({_e(recheck['error'])}).</p>")
        elif recheck["status"] != "fail":
            parts.append(f"<p>Converted again at fp32: parity {_pill(recheck['status'])}: the "
                         "failure is an fp16 precision effect, not a conversion error.</p>")
        else:
            parts.append(f"<p>Converted again at fp32: parity {_pill('fail')} too: the "
                         "converted program computes something else than PyTorch.</p>")
            if recheck.get("divergence"):
                parts.append(_divergence_block(recheck["divergence"]))
    return "".join(parts)


def _divergence_block(divergence: dict[str, Any]) -> str:
    low, high = (divergence.get("value_range") or [None, None])[:2]
    pairs = [("on input", _e(divergence["case"])), ("why", _e(divergence["reason"]))]
    if divergence.get("origin"):
        pairs.append(("emitted by", f"<code>{_e(divergence['origin'])}</code>"))
    if low is not None and high is not None:
        pairs.append(("Core ML values", _e(f"{numbers.metric(low, 4)} .. "
                                           f"{numbers.metric(high, 4)}")))
    pairs.append(("agreed before it", _e(f"{divergence['compared_before']} aligned value(s)")))
    if divergence.get("unaligned_between"):
        pairs.append(("ops between (no PyTorch counterpart)",
                      _e(", ".join(divergence["unaligned_between"]))))
    return (f'<div class="finding divergence"><p><b>{_e(divergence["headline"])}</b></p>'
            + _kv(pairs) + _excerpt(divergence.get("excerpt"))
            + (f"<p>{_e(divergence['hint'])}</p>" if divergence.get("hint") else "") + "</div>")


def _precision(precision: dict[str, Any] | None) -> str:
    if precision is None:
        return ""
    outcome = precision["outcome"]
    title = "Precision hint" if outcome == "suggested" else "Precision (auto)"
    status = {"fp16": "pass", "mixed": "pass", "fp32": "warn"}.get(outcome, "fail")
    parts = [f'<section id="precision"><h2>{_e(title)} <span class="pill status-{status}">'
             f'{_e(outcome)}</span></h2>',
             f'<p class="status-{status}"><b>{_e(precision["headline"])}</b></p>']
    pairs = []
    if precision.get("before") and outcome != "fp16":
        pairs.append(("every op in fp16", _figures(precision["before"])))
    if precision.get("after"):
        pairs.append(("model kept", _figures(precision["after"])))
    if outcome in ("mixed", "fp32", "failed"):
        pairs.append(("search", _e(f"{len(precision['rounds'])} round(s), "
                                   f"{precision['conversions']} conversion(s), "
                                   f"{numbers.seconds(precision['seconds'])}")))
    if pairs:
        parts.append(_kv(pairs))
    if precision["fp32_ops"]:
        rows = [[f"<code>{_e(op['saved_op'] or op['op'])}</code>", _e(op["op_type"]),
                 _e(op["torch_kind"] or ""),
                 f"<code>{_e(op['path'])}:{_e(op['line'])}</code>" if op["path"] else "",
                 _e(op["reason"]), _e(op["round"])] for op in precision["fp32_ops"]]
        parts.append(_table(["MIL op kept in fp32", "type", "PyTorch op", "source line", "why",
                             "round"], rows, numeric=(5,), table_id="fp32-ops"))
    parts.append("</section>")
    return "".join(parts)


def _figures(figures: dict[str, Any]) -> str:
    if figures["status"] == "fail" and figures["failures"]:
        return _pill("fail") + " " + _e(f"at {figures['precision']}: {figures['failures'][0]}")
    return _pill(figures["status"]) + " " + _e(
        f"at {figures['precision']}, worst PSNR {numbers.decibels(figures['psnr_db'])} dB, "
        f"max abs {numbers.metric(figures['max_abs'])}")


def _timings(timings: dict[str, Any]) -> str:
    stages = timings["stages"]
    if not stages:
        return ""
    parity = timings.get("parity") or {}
    inner = (", ".join(f"{key} {numbers.seconds(value)}" for key, value in parity.items()))
    return ('<section id="timings"><h2>Timings</h2>'
            f"<figure>{timings_svg(stages)}<figcaption>total "
            f"{_e(numbers.seconds(timings['total']))}"
            + (f"; inside parity: {_e(inner)}" if inner else "") + "</figcaption></figure>"
            "</section>")


def _notes(report: dict[str, Any]) -> str:
    parts = ['<section id="notes"><h2>Notes</h2>']
    notes = report["notes"]
    parts.append("<ul>" + "".join(f"<li>{_e(note)}</li>" for note in notes) + "</ul>"
                 if notes else "<p>None.</p>")
    for path, diff in (report.get("lint_fixes") or {}).items():
        parts.append(_details(f"lint --fix changed {path}",
                              f'<pre class="diff">{_e(diff)}</pre>', open_=True))
    parts.append("</section>")
    return "".join(parts)
