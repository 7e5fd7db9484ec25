"""Shared by every test of the dynamic half.

coremltools' logger is routed into torchready before any test imports coremltools directly, as
the pipeline does: its import-time and conversion chatter is recorded, not printed.
"""

import logging
import warnings

import pytest

from torchready.convert.coreml.quiet import install

install()


@pytest.fixture(scope="module")
def single_torch_thread():
    """Eager torch and the reference runtime single-threaded (restored afterwards): on a busy
    2-core machine OpenMP's barriers make tiny ops orders of magnitude slower."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def quiet_coremltools():
    """coremltools' own log lines and torch.jit's DeprecationWarning kept off the test output."""
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*TracerWarning.*")
        yield
