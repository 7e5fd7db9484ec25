"""Report tests run the real pipeline on the tiny fixture models once per module."""

import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
if str(FIXTURES) not in sys.path:
    sys.path.insert(0, str(FIXTURES))


@pytest.fixture(autouse=True, scope="module")
def _one_thread(single_torch_thread):
    yield


@pytest.fixture(autouse=True)
def _quiet(quiet_coremltools):
    yield


@pytest.fixture(scope="session")
def overflow(tmp_path_factory):
    """parity_zoo.large_scale through the Python API, once for every report test: fp16
    overflows, parity fails, the fp32 recheck passes; the report written with `write_report` in
    every format. -> (ConversionResult, {suffix: path})."""
    import warnings

    import torch

    import parity_zoo
    from torchready import to_coreml
    from torchready.convert.parity.engine import ParityOptions
    from torchready.convert.reports import write_report

    folder = tmp_path_factory.mktemp("overflow")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as single_torch_thread, which is module-scoped
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = to_coreml(*parity_zoo.large_scale(),
                               parity_options=ParityOptions(random_inputs=1))
    finally:
        torch.set_num_threads(threads)
    paths = {suffix: write_report(result, folder / f"overflow.{suffix}")
             for suffix in ("json", "md", "html")}
    return result, paths
