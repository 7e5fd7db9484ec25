"""Output formats for `torchready lint`: one small module per format."""

FORMATS = ("text", "json", "sarif", "github")


def render(name: str, run, stream, **options) -> None:
    import importlib

    module = importlib.import_module(f"torchready.lint.formats.{name}_format")
    module.render(run, stream, **options)
