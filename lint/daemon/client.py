"""The client's side: `torchready lint --daemon` and `torchready daemon start|stop|status`."""

from __future__ import annotations

import base64
import io
import os
import socket
import sys
import time

from torchready.lint.daemon import (PROTOCOL_VERSION, TERMINAL_ENVIRONMENT, DaemonUnavailable,
                                    receive, send, socket_path)

# A daemon imports the linter before it listens (about a second here); a loaded machine is slower.
START_TIMEOUT = 30.0


def lint_in_daemon(argv: list[str]) -> int | None:
    """Run `torchready ARGV` (a lint command line) in this folder's daemon, starting one when
    none runs: print its output and return its exit code. None when no daemon can serve, after
    one line on stderr saying why (the caller then lints in its own process; standard input,
    if the daemon was to read it, is left readable again in `sys.stdin`)."""
    stdin = sys.stdin.buffer.read() if "-" in argv else b""
    request = {"version": PROTOCOL_VERSION, "argv": argv, "cwd": os.getcwd(),
               "tty": sys.stdout.isatty(), "env": _terminal_environment(),
               "stdin": base64.b64encode(stdin).decode("ascii")}
    try:
        answer = _ask(request, start=True)
        if not isinstance(answer.get("code"), int):
            raise DaemonUnavailable("it answered without an exit code")
    except DaemonUnavailable as error:
        print(f"torchready: lint daemon unavailable ({error}); linting in this process",
              file=sys.stderr)
        if "-" in argv:
            sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
        return None
    sys.stdout.write(str(answer.get("stdout", "")))
    sys.stdout.flush()
    sys.stderr.write(str(answer.get("stderr", "")))
    return answer["code"]


def start(root: str, idle_timeout: float | None = None) -> dict:
    """Start the folder's daemon unless one runs; its status."""
    return _ask({"command": "status"}, start=True, root=root, idle_timeout=idle_timeout)


def status(root: str) -> dict | None:
    """The daemon's pid, folder, uptime and requests served; None when none runs."""
    try:
        return _ask({"command": "status"}, start=False, root=root)
    except DaemonUnavailable:
        return None


def stop(root: str) -> bool:
    """Stop the folder's daemon; False when none ran."""
    try:
        _ask({"command": "stop"}, start=False, root=root)
    except DaemonUnavailable:
        return False
    return True


def _ask(request: dict, start: bool, root: str | None = None,
         idle_timeout: float | None = None) -> dict:
    root = os.path.realpath(root or os.getcwd())
    path = socket_path(root)
    connection = _connect(path)
    if connection is None:
        if not start:
            raise DaemonUnavailable("no daemon runs for this folder")
        connection = _start(root, path, idle_timeout)
    with connection:
        try:
            send(connection, request)
            return receive(connection)
        except OSError as error:
            raise DaemonUnavailable(f"the daemon stopped answering ({error})") from None


def _connect(path: str) -> socket.socket | None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(path)
    except OSError:  # no socket, or one a killed daemon left
        connection.close()
        return None
    return connection


def _start(root: str, path: str, idle_timeout: float | None) -> socket.socket:
    import subprocess

    log = path.removesuffix(".sock") + ".log"
    # -P: the folder being linted is not put on sys.path, so none of its modules (a `torchready/`
    # or `libcst/` of its own) replaces the linter's.
    command = [sys.executable, "-P", "-m", "torchready", "daemon", "serve"]
    if idle_timeout is not None:
        command += ["--idle-timeout", str(idle_timeout)]
    with open(log, "w") as errors:
        process = subprocess.Popen(
            command, cwd=root,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
            start_new_session=True)  # outlives this process and its terminal's signals
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        connection = _connect(path)
        if connection is not None:
            return connection
        # Exit code 0: another client's daemon won the race and will listen soon.
        if process.poll() not in (None, 0):
            with open(log, errors="replace") as errors:
                reason = errors.read().strip().splitlines()
            raise DaemonUnavailable(f"the daemon did not start: {reason[-1] if reason else ''}")
        time.sleep(0.02)
    raise DaemonUnavailable(f"the daemon did not listen within {START_TIMEOUT:.0f} s")


def _terminal_environment() -> dict[str, str]:
    environment = {name: os.environ[name] for name in TERMINAL_ENVIRONMENT if name in os.environ}
    if sys.stdout.isatty() and "COLUMNS" not in environment:
        import shutil

        environment["COLUMNS"] = str(shutil.get_terminal_size().columns)
    return environment
