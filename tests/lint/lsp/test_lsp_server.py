"""`torchready lsp` driven by a real LSP client (pygls' LanguageClient) over stdio."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from lsprotocol import types

from helpers import run_cli
from torchready.lint.api import lint_text
from torchready.lint.fixes import apply_edits, fix_source
from lsp_session import (
    ROOT, LspSession, apply_workspace_edit, pull_capabilities, push_capabilities, utf16_column,
)

# A trace hazard (TR102) on a line that also holds non-ASCII text: `ï` is one UTF-16 unit,
# `😀` two, so the LSP column differs from the code-point column by one.
MODEL = '''\
import math

import torch
from torch import nn


class Attention(nn.Module):
    def forward(self, q, k):
        tag = "naïve 😀"; scale = math.sqrt(q.size(-1))
        return q @ k.transpose(-2, -1) / scale


model = Attention()
traced = torch.jit.trace(model, (torch.rand(1, 4, 8), torch.rand(1, 4, 8)))
'''
HAZARD = "math.sqrt(q.size(-1))"


def engine_findings(text: str, path: Path):
    return lint_text(text, str(path))


def codes(diagnostics) -> list[str]:
    return sorted(str(d.code) for d in diagnostics)


def action_titled(actions: list[types.CodeAction], prefix: str) -> types.CodeAction:
    matching = [action for action in actions if action.title.startswith(prefix)]
    assert matching, f"no action starting with {prefix!r} in {[a.title for a in actions]}"
    return matching[0]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("lsp-workspace")


@pytest.fixture(scope="module")
def session(workspace: Path):
    session = LspSession(workspace, push_capabilities())
    yield session
    session.close()


def test_open_fix_change_clears_diagnostics_then_shutdown_exits_cleanly(tmp_path: Path):
    session = LspSession(tmp_path, push_capabilities())
    try:
        capabilities = session.initialize_result.capabilities
        assert capabilities.position_encoding == types.PositionEncodingKind.Utf16
        assert capabilities.text_document_sync.change == types.TextDocumentSyncKind.Full
        assert set(capabilities.code_action_provider.code_action_kinds) == {
            "quickfix", "source.fixAll.torchready"}
        assert capabilities.diagnostic_provider.identifier == "torchready"
        assert session.initialize_result.server_info.name == "torchready"

        path = tmp_path / "model.py"
        uri = session.open(path, MODEL)
        diagnostics = session.diagnostics(uri, 1)
        expected = engine_findings(MODEL, path)
        assert codes(diagnostics) == codes(expected)
        assert {"TR102", "TR401"} <= set(codes(diagnostics))

        (hazard,) = [d for d in diagnostics if d.code == "TR102"]
        assert hazard.source == "torchready"
        assert hazard.severity == types.DiagnosticSeverity.Error
        line_index = MODEL.splitlines().index(
            '        tag = "naïve 😀"; scale = math.sqrt(q.size(-1))')
        line = MODEL.splitlines()[line_index]
        start = utf16_column(line, line.index(HAZARD))
        assert hazard.range == types.Range(
            start=types.Position(line=line_index, character=start),
            end=types.Position(line=line_index, character=start + len(HAZARD)))
        assert start == line.index(HAZARD) + 1  # the emoji's second UTF-16 unit
        assert hazard.data["fix"]["applicability"] == "safe"

        actions = session.code_actions(uri, [hazard])
        fix = action_titled(actions, "Fix: ")
        assert fix.kind == types.CodeActionKind.QuickFix and fix.is_preferred
        assert any(a.title == "Add `# noqa: TR102`" for a in actions)

        # The quick fix is the engine's own fix for that finding, applied by the client.
        (engine_hazard,) = [d for d in expected if d.code == "TR102"]
        fixed = apply_workspace_edit(MODEL, fix.edit, uri)
        assert fixed == apply_edits(MODEL, engine_hazard.fix.edits)
        assert "scale = q.size(-1) ** 0.5" in fixed

        session.change(uri, fixed, 2)
        remaining = session.diagnostics(uri, 2)
        assert codes(remaining) == codes(engine_findings(fixed, path))
        assert "TR102" not in codes(remaining)

        (missing_eval,) = [d for d in remaining if d.code == "TR401"]
        eval_fix = action_titled(session.code_actions(uri, [missing_eval]), "Fix: ")
        clean = apply_workspace_edit(fixed, eval_fix.edit, uri)
        assert "model.eval()\ntraced = torch.jit.trace(" in clean
        assert engine_findings(clean, path) == []
        session.change(uri, clean, 3)
        assert session.diagnostics(uri, 3) == []
    finally:
        returncode = session.close()
    assert returncode == 0


def test_noqa_action_silences_only_that_finding(session: LspSession, workspace: Path):
    uri = session.open(workspace / "noqa_model.py", MODEL)
    diagnostics = session.diagnostics(uri, 1)
    (hazard,) = [d for d in diagnostics if d.code == "TR102"]
    noqa = action_titled(session.code_actions(uri, [hazard]), "Add `# noqa: TR102`")
    silenced = apply_workspace_edit(MODEL, noqa.edit, uri)
    assert '= math.sqrt(q.size(-1))  # noqa: TR102\n' in silenced
    session.change(uri, silenced, 2)
    after = codes(session.diagnostics(uri, 2))
    assert after == [code for code in codes(diagnostics) if code != "TR102"]


def test_fix_all_equals_what_the_cli_writes(session: LspSession, workspace: Path, tmp_path):
    uri = session.open(workspace / "fix_all_model.py", MODEL)
    session.diagnostics(uri, 1)
    (fix_all,) = session.code_actions(uri, [], only=[types.CodeActionKind.SourceFixAll])
    assert fix_all.kind == "source.fixAll.torchready"
    fixed = apply_workspace_edit(MODEL, fix_all.edit, uri)

    on_disk = tmp_path / "model.py"
    on_disk.write_text(MODEL, encoding="utf-8")
    result = run_cli("lint", "--fix", str(on_disk))
    assert result.returncode == 0, result.stdout + result.stderr
    assert fixed == on_disk.read_text(encoding="utf-8")
    assert fixed == fix_source(MODEL, lambda text: engine_findings(text, on_disk))[0]


def test_syntax_error_publishes_tr000_and_the_server_keeps_going(session, workspace):
    broken = MODEL.replace("def forward(self, q, k):", "def forward(self, q k):")
    uri = session.open(workspace / "broken_model.py", broken)
    (error,) = session.diagnostics(uri, 1)
    assert (error.code, error.severity) == ("TR000", types.DiagnosticSeverity.Error)
    assert error.range.start.line == broken.splitlines().index(
        "    def forward(self, q k):")
    assert session.code_actions(uri, [error], only=[types.CodeActionKind.QuickFix]) == []
    session.change(uri, MODEL, 2)
    assert codes(session.diagnostics(uri, 2)) == codes(
        engine_findings(MODEL, workspace / "broken_model.py"))


def test_changes_are_debounced_per_document(session: LspSession, workspace: Path):
    uri = session.open(workspace / "typing_model.py", MODEL)
    session.diagnostics(uri, 1)
    burst = [MODEL.replace("q.size(-1)", f"q.size(-{n})") for n in range(1, 6)]
    sent = time.monotonic()
    for version, text in enumerate(burst, start=2):
        session.change(uri, text, version)
    final = len(burst) + 1
    session.diagnostics(uri, final)
    elapsed = time.monotonic() - sent
    published_versions = [p.version for p in session.published if p.uri == uri]
    assert published_versions == [1, final]  # one lint for the whole burst
    assert elapsed >= 0.3  # and only after the pause


def test_a_document_edited_again_and_again_gets_the_findings_of_a_fresh_lint(session, workspace):
    """The server parses an edited document again only in the statements that changed: after
    each edit its findings (codes and places) are those of a fresh lint of the same text."""
    path = workspace / "edited_model.py"
    uri = session.open(path, MODEL)
    session.diagnostics(uri, 1)
    helper = "\n\ndef scale(x):\n    return x / math.sqrt(x.size(-1))\n"
    edits = [MODEL.replace("tag = ", "# a comment\n        tag = "),  # lines move in a method
             MODEL + helper,  # a new function after the last statement
             MODEL.replace("\nmodel = ", helper + "\nmodel = ") + helper,  # two equal pieces
             MODEL]
    for version, text in enumerate(edits, start=2):
        session.change(uri, text, version)
        published = session.diagnostics(uri, version)
        fresh = engine_findings(text, path)
        assert sorted((str(d.code), d.range.start.line + 1) for d in published) == \
            sorted((d.code, d.line) for d in fresh)


def test_settings_come_from_the_documents_pyproject(session: LspSession, workspace: Path):
    project = workspace / "configured"
    project.mkdir()
    config = project / "pyproject.toml"
    config.write_text('[tool.torchready]\nignore = ["TR102"]\n', encoding="utf-8")
    everything = codes(engine_findings(MODEL, workspace / "model.py"))
    uri = session.open(project / "model.py", MODEL)
    assert codes(session.diagnostics(uri, 1)) == [c for c in everything if c != "TR102"]

    config.write_text('[tool.torchready]\nignore = ["TR401"]\n', encoding="utf-8")
    before = len(session.published)
    session.notify(session.client.workspace_did_change_watched_files,
                   types.DidChangeWatchedFilesParams(changes=[types.FileEvent(
                       uri=config.as_uri(), type=types.FileChangeType.Changed)]))
    republished = session.wait_until(
        lambda: [p for p in session.published[before:] if p.uri == uri])
    assert codes(republished[-1].diagnostics) == [c for c in everything if c != "TR401"]

    config.write_text("[tool.torchready]\nselect = [\n", encoding="utf-8")  # invalid TOML
    before = len(session.messages)
    session.notify(session.client.workspace_did_change_watched_files,
                   types.DidChangeWatchedFilesParams(changes=[types.FileEvent(
                       uri=config.as_uri(), type=types.FileChangeType.Changed)]))
    (warning,) = session.wait_until(lambda: session.messages[before:])
    assert warning.type == types.MessageType.Warning
    assert "invalid TOML" in warning.message and "default settings" in warning.message


def test_hover_on_a_finding_shows_the_rule_documentation(session, workspace):
    uri = session.open(workspace / "hover_model.py", MODEL)
    (hazard,) = [d for d in session.diagnostics(uri, 1) if d.code == "TR102"]
    hover = session.call(session.client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=hazard.range.start)))
    assert hover.contents.kind == types.MarkupKind.Markdown
    assert hover.contents.value.startswith("# math-on-shape (TR102)")
    nowhere = session.call(session.client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=0, character=0))))
    assert nowhere is None


def test_pull_client_gets_diagnostics_on_request_and_no_push(tmp_path: Path):
    session = LspSession(tmp_path, pull_capabilities())
    try:
        path = tmp_path / "model.py"
        uri = session.open(path, MODEL)
        report = session.call(session.client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))))
        assert report.kind == "full"
        assert codes(report.items) == codes(engine_findings(MODEL, path))
        time.sleep(0.5)
        assert session.published == []
    finally:
        assert session.close() == 0


def test_utf8_position_encoding_is_honoured(tmp_path: Path):
    capabilities = push_capabilities()
    capabilities.general.position_encodings = [types.PositionEncodingKind.Utf8]
    session = LspSession(tmp_path, capabilities)
    try:
        assert (session.initialize_result.capabilities.position_encoding
                == types.PositionEncodingKind.Utf8)
        uri = session.open(tmp_path / "model.py", MODEL)
        (hazard,) = [d for d in session.diagnostics(uri, 1) if d.code == "TR102"]
        line = next(text for text in MODEL.splitlines() if HAZARD in text)
        start = len(line[: line.index(HAZARD)].encode("utf-8"))
        assert hazard.range.start.character == start  # ï is 2 bytes, 😀 is 4
    finally:
        session.close()


# -- robustness against a misbehaving client: raw bytes on the server's stdin ------------------

def frame(payload: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(payload) + payload


def message(**fields) -> bytes:
    return frame(json.dumps({"jsonrpc": "2.0", **fields}).encode())


class MessageReader:
    """Reads framed messages from the server's stdout on a thread, so no read can hang a test."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.received: queue.Queue = queue.Queue()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            length = None
            while True:
                header = self.stream.readline()
                if not header:
                    self.received.put(None)
                    return
                if header in (b"\r\n", b"\n"):
                    break
                name, _, value = header.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            self.received.put(json.loads(self.stream.read(length)))

    def next(self, timeout: float = 20) -> dict:
        received = self.received.get(timeout=timeout)
        assert received is not None, "the server closed its stdout"
        return received

    def response(self, request_id) -> dict:
        while True:
            received = self.next()
            if received.get("id") == request_id and "method" not in received:
                return received

    def notification(self, method: str) -> dict:
        while True:
            received = self.next()
            if received.get("method") == method:
                return received


def test_malformed_messages_and_unknown_methods_do_not_kill_the_server(tmp_path: Path):
    environment = dict(os.environ)
    environment["PYTHONPATH"] = str(ROOT) + os.pathsep + environment.get("PYTHONPATH", "")
    server = subprocess.Popen([sys.executable, "-m", "torchready", "lsp"], cwd=tmp_path,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=environment)
    replies = MessageReader(server.stdout)
    try:
        send = server.stdin
        send.write(frame(b"{this is not json"))
        send.write(frame(b'["a", "json", "array", "but", "no", "message"]'))
        send.write(message(method="torchready/noSuchNotification", params={}))
        send.write(message(id=1, method="torchready/noSuchRequest", params={}))
        send.flush()
        assert replies.response(1)["error"]["code"] == -32601  # MethodNotFound

        send.write(message(id=2, method="initialize",
                           params={"processId": None, "rootUri": None, "capabilities": {}}))
        send.flush()
        assert replies.response(2)["result"]["serverInfo"]["name"] == "torchready"

        # A known request whose parameters have the wrong shape gets an error reply.
        send.write(message(id=3, method="textDocument/codeAction", params={"bogus": True}))
        send.flush()
        assert replies.response(3)["error"]["code"] == -32602  # InvalidParams

        send.write(message(method="initialized", params={}))
        uri = (tmp_path / "model.py").as_uri()
        send.write(message(method="textDocument/didOpen", params={"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": MODEL}}))
        send.flush()
        published = replies.notification("textDocument/publishDiagnostics")
        assert sorted(d["code"] for d in published["params"]["diagnostics"]) == codes(
            engine_findings(MODEL, tmp_path / "model.py"))

        send.write(message(id=4, method="shutdown"))
        send.flush()
        assert replies.response(4)["result"] is None
        send.write(message(method="exit"))
        send.flush()
        assert server.wait(timeout=20) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


PROBE = """
import sys
import torchready.cli, torchready.commands.lsp_cmd, torchready.lint.lsp.server
torchready.cli.build_parser()
torchready.lint.lsp.server.build_server()
heavy = [m for m in sys.modules if m.split(".")[0] in ("torch", "numpy", "coremltools")]
pipeline = [m for m in sys.modules if m.startswith("torchready.convert")]
print(heavy, pipeline)
"""


def test_the_server_imports_neither_torch_nor_the_conversion_pipeline():
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                           cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[] []"
