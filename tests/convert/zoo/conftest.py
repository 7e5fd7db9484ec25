import sys
from pathlib import Path

# benchmarks/ is not a package: the zoo is imported the way `python benchmarks/zoo.py` runs it.
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
