"""The release number, in a module of its own: the CLI, caches, SARIF and reports read it without
importing the public API."""

__version__ = "0.1.0"
