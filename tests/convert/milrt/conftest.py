import pytest


@pytest.fixture(autouse=True)
def _runtime_test_environment(single_torch_thread, quiet_coremltools):
    """Every reference-runtime test: one torch thread, no coremltools chatter."""
