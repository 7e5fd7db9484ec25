"""The daemon's side: serve `torchready lint` command lines, one at a time, in one folder.

Each request runs the command-line code itself (`torchready.cli.main`) with the client's
arguments, standard input, terminal and colour settings, and answers with what it printed and
its exit code. Before each run the daemon forgets what it knows about files other than by their
content (settings, packages); it keeps the imported rules and the project memory.
"""

from __future__ import annotations

import base64
import fcntl
import io
import os
import socket
import sys
import time
import traceback
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Iterator

from torchready.lint.daemon import (IDLE_TIMEOUT, PROTOCOL_VERSION, TERMINAL_ENVIRONMENT,
                                    DaemonUnavailable, receive, send, socket_path)


def serve(root: Path, idle_timeout: float = IDLE_TIMEOUT) -> int:
    """Serve the folder `root` until stopped or idle; 0 also when another daemon already
    serves it (two clients may start one at the same moment: the first to lock wins)."""
    root = root.resolve()
    path = Path(socket_path(str(root)))
    lock = open(path.with_suffix(".lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return 0
    try:
        os.chdir(root)
        _load_the_linter()
        path.unlink(missing_ok=True)  # left by a daemon that was killed (we hold the lock)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(str(path))
            listener.listen(16)
            _serve_requests(listener, root, idle_timeout)
    finally:
        path.unlink(missing_ok=True)
        lock.close()
    return 0


def _load_the_linter() -> None:
    """Import what a run needs (libcst, the rules, the engine, the link) before the first
    request; from now on keep the project memory and parsed statements, and summarize an
    edited file in a forked child while linting it."""
    import torchready.lint.engine  # noqa: F401
    import torchready.lint.fixes  # noqa: F401
    import torchready.lint.project.link  # noqa: F401
    from torchready.lint.forked import allow_forking
    from torchready.lint.project.memory import keep_runs_in_memory
    from torchready.lint.reparse import keep_statements
    from torchready.lint.rules import all_rules

    all_rules()
    keep_runs_in_memory()
    keep_statements()
    allow_forking()  # a single-threaded process of its own


def _serve_requests(listener: socket.socket, root: Path, idle_timeout: float) -> None:
    started, served = time.time(), 0
    # Idle means no lint run: asking for the status does not keep a daemon alive.
    last_run = time.monotonic()
    while True:
        listener.settimeout(max(0.0, last_run + idle_timeout - time.monotonic()))
        try:
            connection, _ = listener.accept()
        except (TimeoutError, BlockingIOError):
            return  # idle
        with connection:
            connection.settimeout(None)
            try:
                request = receive(connection)
                command = request.get("command")
                if command == "stop":
                    send(connection, {"stopped": True, "pid": os.getpid()})
                    return
                if command == "status":
                    send(connection, {"pid": os.getpid(), "root": str(root),
                                      "uptime": round(time.time() - started, 1),
                                      "served": served})
                    continue
                send(connection, _lint(request, root))
                served += 1
                last_run = time.monotonic()
            except (DaemonUnavailable, OSError, ValueError):
                continue  # the client went away or spoke nonsense: serve the next one


def _lint(request: dict, root: Path) -> dict:
    from torchready.cli import main, without_daemon_flag
    from torchready.lint.project.memory import forget_file_system

    argv = request.get("argv")
    # Only lint command lines, and none asking for a daemon (this one would wait for itself).
    if request.get("version") != PROTOCOL_VERSION or not isinstance(argv, list) \
            or argv[:1] != ["lint"] or not all(isinstance(arg, str) for arg in argv) \
            or without_daemon_flag(argv) != argv:
        return _answer(2, stderr="torchready: error: the lint daemon got a request it does "
                                 "not serve (a different torchready version?)\n")
    if Path(str(request.get("cwd"))).resolve() != root:
        return _answer(2, stderr=f"torchready: error: the lint daemon serves {root}, not "
                                 f"{request.get('cwd')}\n")
    forget_file_system()
    stdout, stderr = _Output(bool(request.get("tty"))), _Output(False)
    stdin = base64.b64decode(request.get("stdin") or "")
    with _client_environment(request.get("env") or {}), _standard_input(stdin), \
            redirect_stdout(stdout), redirect_stderr(stderr):
        try:
            code = main(argv)
        except SystemExit as exit:  # argparse on bad arguments
            code = exit.code if isinstance(exit.code, int) else 2
        except Exception:  # a bug: report it as a one-shot run would, and serve on
            traceback.print_exc()
            code = 2
    return _answer(code, stdout.getvalue(), stderr.getvalue())


def _answer(code: int, stdout: str = "", stderr: str = "") -> dict:
    return {"code": code, "stdout": stdout, "stderr": stderr}


class _Output(io.StringIO):
    """What the command prints, with the client's answer to "is this a terminal?"."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@contextmanager
def _client_environment(environment: dict) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in TERMINAL_ENVIRONMENT}
    try:
        for name in TERMINAL_ENVIRONMENT:
            value = environment.get(name)
            if isinstance(value, str):
                os.environ[name] = value
            else:
                os.environ.pop(name, None)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _standard_input(data: bytes) -> Iterator[None]:
    saved = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    try:
        yield
    finally:
        sys.stdin = saved
