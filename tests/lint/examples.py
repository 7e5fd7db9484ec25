"""Turn a rule's VALID/INVALID examples into lintable sources (shared by the tests)."""

from __future__ import annotations

import textwrap

# Examples are written as the body of a model file; every one runs with these imports so that
# `nn.Module`, `torch.jit.script` and `math` resolve as in real code.
PREAMBLE = "import math\nimport torch\nfrom torch import nn\n"


def example_source(code: str) -> str:
    return PREAMBLE + textwrap.dedent(code).strip() + "\n"
