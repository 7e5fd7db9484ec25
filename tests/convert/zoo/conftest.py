import os
import sys
from pathlib import Path

# Route coremltools' logger into torchready before any test imports coremltools directly, as the
# pipeline does: its import-time and conversion chatter is recorded, not printed.
from convert.coreml.quiet import install

install()
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# benchmarks/ is not a package: the zoo is imported the way `python benchmarks/zoo.py` runs it.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
