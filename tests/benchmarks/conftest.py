import sys
from pathlib import Path

# benchmarks/ is not a package: its scripts are imported the way `python benchmarks/x.py` runs them.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
