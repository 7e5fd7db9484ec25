"""The lint daemon: one long-running `torchready lint` per folder, for hooks and editors that lint
a few files many times.

A one-shot run pays, before it looks at a file, for starting Python and importing libcst (about
0.35 s here) and, on a large tree, for reading the project index and hashing every file. The
daemon pays once and keeps them (`torchready.lint.project.memory`); `torchready lint --daemon`
is then a thin client that sends its command line and prints what the daemon answers. The answer
is exactly what the same command prints in a one-shot run: the daemon runs the same command-line
code in the client's folder, and everything it keeps is keyed by file content.

One daemon serves one folder (the cache root, where `torchready lint` runs), one torchready
build and one Python (`sys.executable`): a client of another build or interpreter
finds its own. The socket lives in a private directory of the user (`0700`); the daemon reads
and writes files only as the `torchready lint` command it runs would. It exits after
`IDLE_TIMEOUT` seconds without a request, or on `torchready daemon stop`.

Messages are JSON, each preceded by its length (4 bytes, big-endian).
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
import sys

# Nothing heavier than this at module level (no pathlib, no subprocess): the client's start-up
# is the latency `lint --daemon` exists to cut.

IDLE_TIMEOUT = 30 * 60  # seconds
PROTOCOL_VERSION = 1

_LENGTH = struct.Struct(">I")
_LONGEST_SOCKET_PATH = 104  # bytes, with the terminating NUL: macOS 104, Linux 108

# What rich reads to decide colours and width: a run in the daemon uses the client's values.
TERMINAL_ENVIRONMENT = ("TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE",
                        "TTY_INTERACTIVE", "COLUMNS", "LINES")


class DaemonUnavailable(Exception):
    """No daemon can serve this folder (no Unix sockets, a socket directory another user owns,
    a daemon that does not start or answers nonsense)."""


def socket_path(root: str) -> str:
    """The socket of the daemon serving the folder `root` (a resolved path)."""
    from torchready.lint.cache import code_fingerprint

    directory = _private_directory()
    # Not sys.path: its first entry is the script's folder for `torchready` and the current
    # folder for `python -m torchready` (how the daemon starts), the same linter either way.
    key = hashlib.sha256("\0".join([root, code_fingerprint(), sys.executable])
                         .encode("utf-8", "surrogateescape"))
    path = os.path.join(directory, f"{key.hexdigest()[:20]}.sock")
    if len(os.fsencode(path)) >= _LONGEST_SOCKET_PATH:
        raise DaemonUnavailable(f"the socket path {path} is too long for this system")
    return path


def _private_directory() -> str:
    if not hasattr(socket, "AF_UNIX") or not hasattr(os, "getuid"):
        raise DaemonUnavailable("this platform has no Unix sockets")
    # (tempfile.gettempdir() without importing tempfile: Unix only here)
    base = os.environ.get("XDG_RUNTIME_DIR") or os.environ.get("TMPDIR") or "/tmp"
    directory = os.path.join(base, f"torchready-{os.getuid()}")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        status = os.stat(directory)
    except OSError as error:
        raise DaemonUnavailable(f"cannot use {directory}: {error.strerror}") from None
    # Another user's directory (or one others may write to) could hold a socket that answers
    # in our name.
    if status.st_uid != os.getuid() or status.st_mode & 0o077:
        raise DaemonUnavailable(f"{directory} is not private to this user")
    return directory


def send(connection: socket.socket, message: dict) -> None:
    data = json.dumps(message).encode("utf-8", "surrogateescape")
    connection.sendall(_LENGTH.pack(len(data)) + data)


def receive(connection: socket.socket) -> dict:
    """The next message; DaemonUnavailable when the other side closed or sent no JSON object."""
    (length,) = _LENGTH.unpack(_read_exactly(connection, _LENGTH.size))
    try:
        message = json.loads(_read_exactly(connection, length).decode("utf-8", "surrogateescape"))
    except ValueError:
        raise DaemonUnavailable("a message that is not JSON") from None
    if not isinstance(message, dict):
        raise DaemonUnavailable("a message that is not a JSON object")
    return message


def _read_exactly(connection: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = connection.recv(min(remaining, 1 << 20))
        if not chunk:
            raise DaemonUnavailable("the connection closed mid-message")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
