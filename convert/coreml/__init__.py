"""The Core ML half of the pipeline: coremltools kept quiet, input declarations, `ct.convert`,
conversion errors mapped to source lines, and the TorchScript graph coremltools converted."""
