"""torchready's dynamic half (installed as `torchready.convert`): capture a model (trace, script,
hybrid, export), convert it with coremltools, and prove numeric parity.

Heavy imports (torch, coremltools, numpy) happen inside the functions that need them; the public
entry points are re-exported lazily by `torchready` itself (`torchready.to_coreml`, ...).
"""
