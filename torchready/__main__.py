"""`python -m torchready`: the same command line as the `torchready` console script."""

import sys

from torchready.cli import main

sys.exit(main())
