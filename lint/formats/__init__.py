"""Output formats for `torchready lint`: one small module per format."""

FORMATS = ("text", "json", "sarif", "github")


def render(name: str, run, stream, **options) -> None:
    import importlib

    module = importlib.import_module(f"torchready.lint.formats.{name}_format")
    module.render(run, stream, **options)


def with_targets(diagnostic) -> str:
    """The message followed by the capture targets it concerns: `... [trace, export]` (how
    every human-facing format shows them; JSON has a `targets` field)."""
    if not diagnostic.targets:
        return diagnostic.message
    return f"{diagnostic.message} [{', '.join(diagnostic.targets)}]"
