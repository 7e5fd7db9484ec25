# Route coremltools' logger into torchready before any test imports coremltools directly, as the
# pipeline does: its import-time and conversion chatter is recorded, not printed.
from convert.coreml.quiet import install

install()
