"""Shared by every test of the dynamic half."""

import logging
import warnings

import pytest



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
    """coremltools' own log lines and torch.jit's DeprecationWarning kept off the test output
    (for tests that call coremltools directly, outside torchready)."""
    logger = logging.getLogger("coremltools")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*TracerWarning.*")
            yield
    finally:
        logger.setLevel(level)
