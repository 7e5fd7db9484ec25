"""`torchready lsp`: the language server, on stdio, built on pygls 2.

What an editor gets:
* diagnostics on open and save at once, and on change after a pause in typing (a debounce per
  document, 0.3 s by default), pushed with `textDocument/publishDiagnostics`; clients that
  support pull diagnostics (`textDocument/diagnostic`) pull them instead, and then nothing is
  pushed, so no finding shows twice (ruff's rule);
* quick fixes per finding (safe ones preferred, unsafe ones labelled), `# noqa: CODE` per
  finding, and `source.fixAll.torchready` (the `--fix` loop, for fix-on-save);
* the rule's documentation (`torchready explain`) when hovering a finding;
* settings from the pyproject.toml that applies to each document, re-read on every lint so an
  edited configuration takes effect at once; an invalid one is reported once and the defaults
  are used meanwhile.

The server lints the editor's text, never the file on disk, and never imports or runs it. A
file that does not parse gets one TR000 diagnostic; an exception inside a rule is logged to
the client and the server carries on.
"""

from __future__ import annotations

import asyncio
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.uris import to_fs_path

from torchready.about import __version__
from torchready.lint.api import lint_text
from torchready.lint.config import Settings, reload_settings, settings_for
from torchready.lint.fixes import FixDidNotConverge, fix_source
from torchready.lint.lsp import DEBOUNCE_SECONDS
from torchready.lint.lsp.actions import FIX_ALL_KIND, KINDS, QUICK_FIX, fix_all_action, quick_fixes, wants
from torchready.lint.lsp.diagnostics import SOURCE, to_lsp_diagnostic
from torchready.lint.lsp.positions import from_lsp_position
from torchready.lint.source_io import split_lines
from torchready.lint.types import Applicability, Diagnostic, UsageError

PYTHON_SUFFIXES = (".py", ".pyi")
CONFIG_FILE = "pyproject.toml"


@dataclass
class Linted:
    """The result of linting one version of a document."""

    version: int | None
    findings: list[Diagnostic] = field(default_factory=list)
    published: list[types.Diagnostic] = field(default_factory=list)


@dataclass
class Snapshot:
    """What a lint needs from a document, read on the event loop before handing off."""

    uri: str
    version: int | None
    source: str
    path: str | None  # None for documents that are not files (untitled buffers)


class Protocol(LanguageServerProtocol):
    """pygls drops a request whose parameters it cannot decode, without a reply, and the
    client then waits forever; answer it with the JSON-RPC error first (-32602 InvalidParams)."""

    def structure_message(self, data):
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if isinstance(data, dict) and "id" in data and "method" in data:
                self._send_response(data["id"], error=error.to_response_error())
            raise


class TorchreadyServer(LanguageServer):
    def __init__(self, debounce: float = DEBOUNCE_SECONDS) -> None:
        super().__init__(SOURCE, __version__, protocol_cls=Protocol,
                         # Full sync: the client sends the whole text, so pygls never has to
                         # apply ranges whose line breaks it counts differently from Python.
                         text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.debounce = debounce
        self.push_diagnostics = True
        self.document_changes = True
        self.refresh_support = False
        self.open_documents: set[str] = set()
        self.linted: dict[str, Linted] = {}
        self._pending: dict[str, asyncio.Task] = {}
        self._config_error: str | None = None

    # -- documents ------------------------------------------------------------------------
    def snapshot(self, uri: str) -> Snapshot | None:
        document = self.workspace.get_text_document(uri)
        path = to_fs_path(uri)
        is_python = document.language_id == "python" or (path or uri).endswith(PYTHON_SUFFIXES)
        if not is_python:
            return None
        try:
            source = document.source
        except OSError:  # pulled for a file that is neither open nor readable
            return None
        return Snapshot(uri, document.version, source, path)

    def units(self, text: str) -> int:
        return self.workspace.position_codec.client_num_units(text)

    # -- linting --------------------------------------------------------------------------
    def settings(self, path: str | None) -> tuple[Settings, str | None]:
        """The settings for a document, and the configuration error to report, if any."""
        if path is None:
            return Settings(), None
        reload_settings()
        try:
            return settings_for(Path(path)), None
        except UsageError as error:
            return Settings(), str(error)

    def analyse(self, snapshot: Snapshot) -> tuple[list[Diagnostic], str | None]:
        """Runs in a worker thread: pure computation on the snapshot."""
        settings, config_error = self.settings(snapshot.path)
        if snapshot.path is not None and settings.excludes(Path(snapshot.path)):
            return [], config_error
        display = snapshot.path or "untitled.py"
        return lint_text(snapshot.source, display, settings=settings), config_error

    async def lint(self, uri: str) -> Linted | None:
        snapshot = self.snapshot(uri)
        if snapshot is None:
            return None
        loop = asyncio.get_running_loop()
        try:
            findings, config_error = await loop.run_in_executor(None, self.analyse, snapshot)
        except Exception:  # a bug in a rule must not take the editor's linter down
            self.log(types.MessageType.Error,
                     f"torchready failed on {uri}:\n{traceback.format_exc()}")
            return None
        self.report_config_error(config_error)
        lines = split_lines(snapshot.source)
        published = [to_lsp_diagnostic(finding, lines, snapshot.version, self.units)
                     for finding in findings]
        return Linted(snapshot.version, findings, published)

    def schedule(self, uri: str, delay: float) -> None:
        """Lint `uri` after `delay` seconds, replacing any lint already waiting for it."""
        pending = self._pending.pop(uri, None)
        if pending is not None:
            pending.cancel()
        self._pending[uri] = asyncio.ensure_future(self._lint_and_publish(uri, delay))

    async def _lint_and_publish(self, uri: str, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            linted = await self.lint(uri)
            if linted is None or uri not in self.open_documents:
                return
            if self.workspace.get_text_document(uri).version != linted.version:
                return  # the text changed meanwhile; the lint scheduled by that change publishes
            self.linted[uri] = linted
            if self.push_diagnostics:
                self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
                    uri=uri, version=linted.version, diagnostics=linted.published))
        finally:
            if self._pending.get(uri) is asyncio.current_task():
                del self._pending[uri]

    def forget(self, uri: str) -> None:
        pending = self._pending.pop(uri, None)
        if pending is not None:
            pending.cancel()
        self.open_documents.discard(uri)
        self.linted.pop(uri, None)
        if self.push_diagnostics:
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def configuration_changed(self) -> None:
        if self.push_diagnostics:
            for uri in list(self.open_documents):
                self.schedule(uri, 0)
        elif self.refresh_support:
            self.workspace_diagnostic_refresh(None)

    # -- fixes ----------------------------------------------------------------------------
    def fixed_text(self, snapshot: Snapshot) -> str:
        """Runs in a worker thread: the text after every safe fix (the `--fix` loop)."""
        settings, _ = self.settings(snapshot.path)
        display = snapshot.path or "untitled.py"
        fixed, _ = fix_source(snapshot.source,
                              lambda text: lint_text(text, display, settings=settings))
        return fixed

    async def fix_all(self, uri: str) -> types.CodeAction | None:
        snapshot = self.snapshot(uri)
        if snapshot is None:
            return None
        loop = asyncio.get_running_loop()
        try:
            fixed = await loop.run_in_executor(None, self.fixed_text, snapshot)
        except (FixDidNotConverge, RuntimeError) as error:
            self.log(types.MessageType.Warning, f"torchready: fix-all skipped: {error}")
            return None
        return fix_all_action(uri, snapshot.version, snapshot.source, fixed, self.units,
                              self.document_changes)

    def has_safe_fix(self, uri: str) -> bool:
        linted = self.linted.get(uri)
        return linted is not None and any(
            d.fix is not None and d.fix.edits and d.fix.applicability is Applicability.SAFE
            for d in linted.findings)

    def with_data(self, uri: str, diagnostic: types.Diagnostic) -> types.Diagnostic:
        """Clients should send `data` back untouched; for one that drops it, find the
        published diagnostic with the same code and range."""
        if diagnostic.data is not None or diagnostic.source != SOURCE:
            return diagnostic
        linted = self.linted.get(uri)
        for published in linted.published if linted else ():
            if published.code == diagnostic.code and published.range == diagnostic.range:
                return published
        return diagnostic

    # -- messages to the user -------------------------------------------------------------
    def report_config_error(self, message: str | None) -> None:
        if message and message != self._config_error:
            self.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Warning,
                message=f"torchready: {message}; using the default settings"))
        self._config_error = message

    def log(self, level: types.MessageType, message: str) -> None:
        self.window_log_message(types.LogMessageParams(type=level, message=message))


def build_server(debounce: float = DEBOUNCE_SECONDS) -> TorchreadyServer:
    server = TorchreadyServer(debounce)

    @server.feature(types.INITIALIZE)
    def initialize(ls: TorchreadyServer, params: types.InitializeParams) -> None:
        capabilities = params.capabilities
        ls.push_diagnostics = get_capability(capabilities, "text_document.diagnostic") is None
        ls.document_changes = bool(get_capability(
            capabilities, "workspace.workspace_edit.document_changes", False))
        ls.refresh_support = bool(get_capability(
            capabilities, "workspace.diagnostics.refresh_support", False))

    @server.feature(types.INITIALIZED)
    def initialized(ls: TorchreadyServer, params: types.InitializedParams) -> None:
        if get_capability(ls.client_capabilities,
                          "workspace.did_change_watched_files.dynamic_registration", False):
            ls.client_register_capability(types.RegistrationParams(registrations=[
                types.Registration(
                    id="torchready-configuration",
                    method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                    register_options=types.DidChangeWatchedFilesRegistrationOptions(
                        watchers=[types.FileSystemWatcher(glob_pattern=f"**/{CONFIG_FILE}")]),
                )]))

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: TorchreadyServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.open_documents.add(params.text_document.uri)
        ls.schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: TorchreadyServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, ls.debounce)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: TorchreadyServer, params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        if uri.endswith(f"/{CONFIG_FILE}"):
            ls.configuration_changed()
        elif uri in ls.open_documents:
            ls.schedule(uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: TorchreadyServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: TorchreadyServer,
                                 params: types.DidChangeWatchedFilesParams) -> None:
        if any(change.uri.endswith(f"/{CONFIG_FILE}") for change in params.changes):
            ls.configuration_changed()

    @server.feature(types.TEXT_DOCUMENT_DIAGNOSTIC, types.DiagnosticOptions(
        identifier=SOURCE, inter_file_dependencies=False, workspace_diagnostics=False))
    async def pull_diagnostics(ls: TorchreadyServer, params: types.DocumentDiagnosticParams
                               ) -> types.RelatedFullDocumentDiagnosticReport:
        linted = await ls.lint(params.text_document.uri)
        if linted is None:
            return types.RelatedFullDocumentDiagnosticReport(items=[])
        ls.linted[params.text_document.uri] = linted
        return types.RelatedFullDocumentDiagnosticReport(items=linted.published)

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                    types.CodeActionOptions(code_action_kinds=KINDS, resolve_provider=False))
    async def code_action(ls: TorchreadyServer, params: types.CodeActionParams
                          ) -> list[types.CodeAction]:
        uri = params.text_document.uri
        only = params.context.only
        actions: list[types.CodeAction] = []
        if wants(QUICK_FIX, only):
            for diagnostic in params.context.diagnostics:
                actions.extend(quick_fixes(uri, ls.with_data(uri, diagnostic),
                                           ls.document_changes))
        # Asked for explicitly (fix on save), fix-all always runs; offered unasked in the
        # light bulb only when the last lint found something it can fix.
        if wants(FIX_ALL_KIND, only) and (only or ls.has_safe_fix(uri)):
            action = await ls.fix_all(uri)
            if action is not None:
                actions.append(action)
        return actions

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: TorchreadyServer, params: types.HoverParams) -> types.Hover | None:
        from torchready.lint.explain import explain
        from torchready.lint.rules import rule_by_code

        uri = params.text_document.uri
        linted = ls.linted.get(uri)
        snapshot = ls.snapshot(uri)
        if linted is None or snapshot is None or snapshot.version != linted.version:
            return None
        here = from_lsp_position(split_lines(snapshot.source), params.position, ls.units)
        pages = []
        for finding in linted.findings:
            if (finding.line, finding.column) <= here <= (finding.end_line, finding.end_column):
                rule = rule_by_code(finding.code)
                if rule is not None and explain(rule) not in pages:
                    pages.append(explain(rule))
        if not pages:
            return None
        return types.Hover(contents=types.MarkupContent(
            kind=types.MarkupKind.Markdown, value="\n\n---\n\n".join(pages)))

    return server


def start_stdio(debounce: float = DEBOUNCE_SECONDS) -> None:
    from torchready.lint.reparse import keep_statements

    keep_statements()  # a document edited again is parsed again only where it changed
    build_server(debounce).start_io()
