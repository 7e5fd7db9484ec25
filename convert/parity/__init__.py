"""Numeric parity: does the converted model compute what the PyTorch model computes?

One module per job: `feeds` (the inputs parity runs on), `metrics` (how far an output is),
`thresholds` (when that passes), `shape_probing` (does the TorchScript module follow each
input dimension), `engine` (eager vs TorchScript vs the converted model), `localise` (the first
MIL op that diverges, and its source line), `report` (the table), `stage` (the pipeline step).
"""
