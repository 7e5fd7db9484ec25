import logging
import sys
import warnings
from pathlib import Path

import pytest

# Route coremltools' logger into torchready before anything imports coremltools, as the
# pipeline does; and make the fixture models importable (`import parity_zoo`).
from convert.coreml.quiet import install

install()
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
if str(FIXTURES) not in sys.path:
    sys.path.insert(0, str(FIXTURES))


@pytest.fixture(autouse=True, scope="module")
def _single_torch_thread():
    """Eager torch and the reference runtime single-threaded (restored afterwards): on a busy
    2-core machine OpenMP's barriers make tiny ops orders of magnitude slower."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _quiet():
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*TracerWarning.*")
        yield
