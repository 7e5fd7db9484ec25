"""The torchready language server (`torchready lsp`): diagnostics, quick fixes, `# noqa` and
fix-all in any LSP editor.

Needs pygls (`pip install 'torchready[lsp]'`); like the rest of `lint`, it never imports torch,
and it never runs the code it analyses. `server` wires pygls; `diagnostics`, `actions` and
`positions` are the pure translations between torchready's data and the protocol.
"""

# Pause after the last change before linting; the CLI's --debounce default. (Defined here, not
# in `server`, so the CLI can read it without importing pygls.)
DEBOUNCE_SECONDS = 0.3
