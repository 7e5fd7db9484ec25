"""`torchready.lint.forked`: a value computed in a forked child equals the value computed here;
whatever fails in the child, the parent computes it; no child outlives its value. Each check
runs in a fresh interpreter (forking is allowed there, never in the test runner's process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")

PRELUDE = """
import os, threading
from torchready.lint import forked
parent = os.getpid()

def no_children_left():
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False
"""


def run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_without_permission_the_value_is_computed_here_when_asked_for():
    assert run("""
        computed = []
        pending = forked.start(lambda: computed.append(os.getpid()) or 42)
        print(computed == [], pending.result(), computed == [parent], no_children_left())
    """) == "True 42 True True"


def test_a_value_computed_in_a_child_comes_back():
    assert run("""
        forked.allow_forking()
        pending = forked.start(lambda: {"pid": os.getpid(), "items": list(range(100_000))})
        value = pending.result()
        print(value["pid"] != parent, value["items"] == list(range(100_000)), no_children_left())
    """) == "True True True"


@pytest.mark.parametrize("failure", ["raise ValueError('in the child')",
                                     "return lambda: None  # does not pickle",
                                     "os._exit(3)"])
def test_what_fails_in_the_child_is_computed_here(failure):
    assert run(f"""
        forked.allow_forking()
        def compute():
            if os.getpid() != parent:
                {failure}
            return "computed here"
        print(forked.start(compute).result(), no_children_left())
    """) == "computed here True"


def test_a_cancelled_value_leaves_no_child():
    assert run("""
        import time
        forked.allow_forking()
        pending = forked.start(lambda: time.sleep(30))
        started = time.monotonic()
        pending.cancel()
        print(time.monotonic() - started < 5, no_children_left())
    """) == "True True"


def test_a_process_running_threads_does_not_fork():
    assert run("""
        forked.allow_forking()
        stop = threading.Event()
        threading.Thread(target=stop.wait).start()
        print(forked.start(os.getpid).result() == parent)
        stop.set()
    """) == "True"
