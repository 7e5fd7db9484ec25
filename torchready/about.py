"""Facts about torchready itself, in a module of their own: the CLI, caches, SARIF and reports read
them without importing the public API."""

__version__ = "0.1.0"

# PLACEHOLDER: torchready has no public repository yet. `.invalid` never resolves (RFC 2606), so
# nobody is sent to a wrong site; replace it here when the project is published (SARIF's
# `informationUri` and the pre-commit snippet in docs/integrations.md use it).
REPOSITORY_URL = "https://example.invalid/torchready"
