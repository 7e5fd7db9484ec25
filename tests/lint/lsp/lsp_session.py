"""A real LSP client (pygls' LanguageClient) driving `torchready lsp` over stdio.

The client runs on an event loop in a background thread, so plain synchronous pytest tests and
module-scoped fixtures can share one server process. Edits the server returns are applied by
`apply_workspace_edit`, an implementation written from the LSP specification (UTF-16 positions,
all edits of one document relative to the original text), independent of the server's code.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 20.0


def push_capabilities() -> types.ClientCapabilities:
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(
            position_encodings=[types.PositionEncodingKind.Utf16]),
        workspace=types.WorkspaceClientCapabilities(
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True)),
        text_document=types.TextDocumentClientCapabilities(
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(
                version_support=True, data_support=True),
            code_action=types.CodeActionClientCapabilities(data_support=True),
            hover=types.HoverClientCapabilities(
                content_format=[types.MarkupKind.Markdown]),
        ),
    )


def pull_capabilities() -> types.ClientCapabilities:
    capabilities = push_capabilities()
    capabilities.text_document.diagnostic = types.DiagnosticClientCapabilities()
    return capabilities


class LspSession:
    def __init__(self, workspace: Path, capabilities: types.ClientCapabilities,
                 *server_args: str) -> None:
        self.workspace = workspace
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = LanguageClient("torchready-tests", "1")
        self.published: list[types.PublishDiagnosticsParams] = []
        self.messages: list[types.ShowMessageParams] = []
        self.logs: list[types.LogMessageParams] = []
        self.changed = threading.Condition()

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_publish(params: types.PublishDiagnosticsParams) -> None:
            with self.changed:
                self.published.append(params)
                self.changed.notify_all()

        @self.client.feature(types.WINDOW_SHOW_MESSAGE)
        def on_message(params: types.ShowMessageParams) -> None:
            with self.changed:
                self.messages.append(params)
                self.changed.notify_all()

        @self.client.feature(types.WINDOW_LOG_MESSAGE)
        def on_log(params: types.LogMessageParams) -> None:
            self.logs.append(params)

        environment = dict(os.environ)
        environment["PYTHONPATH"] = str(ROOT) + os.pathsep + environment.get("PYTHONPATH", "")
        self.call(self.client.start_io(sys.executable, "-m", "torchready", "lsp", *server_args,
                                       cwd=str(workspace), env=environment))
        started = time.perf_counter()
        self.initialize_result = self.call(self.client.initialize_async(types.InitializeParams(
            process_id=os.getpid(),
            root_uri=workspace.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="ws")],
            capabilities=capabilities,
        )))
        self.initialize_seconds = time.perf_counter() - started
        self.notify(self.client.initialized, types.InitializedParams())

    # -- plumbing ---------------------------------------------------------------------------
    def call(self, awaitable, timeout: float = TIMEOUT):
        async def wrapped():
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def notify(self, send: Callable[[Any], None], params: Any) -> None:
        async def wrapped():
            send(params)

        self.call(wrapped())

    def wait_until(self, predicate: Callable[[], Any], timeout: float = TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("timed out waiting for the language server")
                self.changed.wait(remaining)

    # -- documents --------------------------------------------------------------------------
    def open(self, path: Path, text: str, version: int = 1) -> str:
        uri = path.as_uri()
        self.notify(self.client.text_document_did_open, types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python",
                                                 version=version, text=text)))
        return uri

    def change(self, uri: str, text: str, version: int) -> None:
        self.notify(self.client.text_document_did_change, types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))

    def diagnostics(self, uri: str, version: int) -> list[types.Diagnostic]:
        """The diagnostics published for exactly this version of the document."""
        found = self.wait_until(lambda: [p for p in self.published
                                         if p.uri == uri and p.version == version])
        return list(found[-1].diagnostics)

    def code_actions(self, uri: str, diagnostics: list[types.Diagnostic],
                     only: list[str] | None = None) -> list[types.CodeAction]:
        start = diagnostics[0].range.start if diagnostics else types.Position(line=0, character=0)
        end = diagnostics[0].range.end if diagnostics else start
        return self.call(self.client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=start, end=end),
            context=types.CodeActionContext(diagnostics=diagnostics, only=only)))) or []

    def close(self) -> int | None:
        try:
            self.call(self.client.shutdown_async(None))
            self.notify(self.client.exit, None)
            server = self.client._server
            self.call(server.wait())
            self.call(self.client.stop())
            return server.returncode
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=5)


def apply_workspace_edit(text: str, edit: types.WorkspaceEdit, uri: str) -> str:
    edits: list[types.TextEdit] = []
    for change in edit.document_changes or []:
        assert change.text_document.uri == uri
        edits.extend(change.edits)
    for changed_uri, text_edits in (edit.changes or {}).items():
        assert changed_uri == uri
        edits.extend(text_edits)
    # LSP: every range refers to the original document; apply from the end backwards.
    located = sorted(((offset(text, e.range.start), offset(text, e.range.end), e.new_text)
                      for e in edits), reverse=True)
    for start, end, new_text in located:
        text = text[:start] + new_text + text[end:]
    return text


def offset(text: str, position: types.Position) -> int:
    """String index of an LSP position counted in UTF-16 code units. LSP lines end at \n,
    \r\n or \r only (str.splitlines would also break at form feeds and U+2028)."""
    lines = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)
    if position.line >= len(lines):
        return len(text)
    start = sum(len(line) for line in lines[: position.line])
    units = 0
    for index, char in enumerate(lines[position.line]):
        if units >= position.character:
            return start + index
        units += 2 if ord(char) > 0xFFFF else 1
    return start + len(lines[position.line])


def utf16_column(line_text: str, code_points: int) -> int:
    return len(line_text[:code_points].encode("utf-16-le")) // 2
