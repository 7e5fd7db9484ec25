"""Model loading: every spec form, every way it can fail (UsageError -> exit 2), input
declarations, checkpoints read with weights_only=True."""

import textwrap
from pathlib import Path

import pytest
import torch

from torchready.convert.loading import (InputDecl, load_checkpoint, load_model, make_example_inputs,
                             parse_input_decl)
from torchready.convert.spec import ModelSpec
from torchready.lint.types import UsageError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


MODELS = '''
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(x)

    def bare():
        return Net()

    def pair():
        return Net(), torch.zeros(1, 4)

    def pair_tuple():
        return Net(), (torch.zeros(1, 4),)

    def raises():
        raise ValueError("no weights for this size")

    def wrong_type():
        return 42

    def wrong_examples():
        return Net(), [1, 2]

    NOT_CALLABLE = 3
'''


@pytest.fixture(scope="module")
def models_file(tmp_path_factory) -> Path:
    return write(tmp_path_factory.mktemp("models"), "loading_models.py", MODELS)


def test_fixture_factory_returning_module_and_examples():
    spec = load_model(f"{FIXTURES / 'segmentation.py'}:build")
    assert isinstance(spec.module, torch.nn.Module)
    assert type(spec.module).__name__ == "DeepLabLike"
    assert [tuple(t.shape) for t in spec.example_inputs] == [(1, 3, 64, 64)]
    # The factory's `def` line, for diagnostics that cannot point into library code.
    source = (FIXTURES / "segmentation.py").read_text().splitlines()
    assert spec.origin is not None and source[spec.origin[1] - 1].startswith("def build(")


def test_file_importing_its_neighbour(tmp_path):
    write(tmp_path, "blocks.py", "from torch import nn\nBlock = nn.Identity\n")
    path = write(tmp_path, "uses_neighbour.py", """
        import torch
        from blocks import Block

        def build():
            return Block(), torch.ones(2)
    """)
    spec = load_model(f"{path}:build")
    assert type(spec.module).__name__ == "Identity"


def test_single_tensor_example_becomes_a_tuple(models_file):
    spec = load_model(f"{models_file}:pair")
    assert isinstance(spec.example_inputs, tuple) and len(spec.example_inputs) == 1
    assert load_model(f"{models_file}:pair_tuple").example_inputs[0].shape == (1, 4)


def test_package_module_spec(tmp_path, monkeypatch):
    package = tmp_path / "zoo_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    write(package, "nets.py", MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = load_model("zoo_pkg.nets:pair")
    assert type(spec.module).__name__ == "Net"


def test_factory_returning_a_model_spec(tmp_path):
    path = write(tmp_path, "with_spec.py", """
        import torch
        from torch import nn
        from torchready import ModelSpec

        def build():
            return ModelSpec(nn.Identity(), (torch.ones(1, 3, 8, 8),), input_names=["image"],
                             class_labels=["a", "b"], imagenet=True,
                             flexible={"image": {2: (8, 64), 3: (8, 64)}})
    """)
    spec = load_model(f"{path}:build")
    assert isinstance(spec, ModelSpec)
    assert spec.input_names == ["image"] and spec.class_labels == ["a", "b"]
    assert spec.flexible == {"image": {2: (8, 64), 3: (8, 64)}}


def test_bare_module_with_declared_inputs(models_file):
    spec = load_model(f"{models_file}:bare", [parse_input_decl("features:1x4")])
    assert spec.input_names == ["features"]
    (example,) = spec.example_inputs
    assert example.shape == (1, 4) and example.dtype == torch.float32
    assert spec.module(example).shape == (1, 2)


def test_declarations_name_and_flex_the_factory_examples(models_file):
    spec = load_model(f"{models_file}:pair", [parse_input_decl("x:1x(1..8)")])
    assert spec.input_names == ["x"]
    assert spec.flexible == {"x": {1: (1, 8)}}


@pytest.mark.parametrize("spec_text, expected", [
    ("no_colon_here", "MODEL must be 'path/to/file.py:factory' or 'package.module:factory', "
                      "got 'no_colon_here'."),
    ("missing/model.py:build", "model file 'missing/model.py' does not exist."),
    ("no_such_package_xyz.mod:build",
     "could not import module 'no_such_package_xyz.mod': ModuleNotFoundError: No module named "
     "'no_such_package_xyz'."),
])
def test_unresolvable_specs(spec_text, expected):
    with pytest.raises(UsageError) as error:
        load_model(spec_text)
    assert str(error.value) == expected


def test_syntax_error_in_model_file(tmp_path):
    path = write(tmp_path, "broken.py", "def build(:\n    pass\n")
    with pytest.raises(UsageError) as error:
        load_model(f"{path}:build")
    message = str(error.value)
    assert message.startswith(f"could not import '{path}': SyntaxError: ")
    assert "\n" not in message


def test_import_error_in_model_file(tmp_path):
    path = write(tmp_path, "needs_missing.py", "import not_installed_anywhere_xyz\n")
    with pytest.raises(UsageError) as error:
        load_model(f"{path}:build")
    assert str(error.value) == (f"could not import '{path}': ModuleNotFoundError: No module "
                                "named 'not_installed_anywhere_xyz'.")


def test_missing_factory_lists_the_available_ones(models_file):
    with pytest.raises(UsageError) as error:
        load_model(f"{models_file}:biuld")
    message = str(error.value)
    assert message.startswith(f"'{models_file}' has no factory named 'biuld' (it defines: ")
    assert "bare" in message and "pair" in message


def test_factory_that_raises(models_file):
    with pytest.raises(UsageError) as error:
        load_model(f"{models_file}:raises")
    assert str(error.value) == (f"factory '{models_file}:raises' raised ValueError: no weights "
                                "for this size.")


def test_not_callable(models_file):
    with pytest.raises(UsageError, match="names a int, not a callable factory"):
        load_model(f"{models_file}:NOT_CALLABLE")


def test_wrong_return_type(models_file):
    with pytest.raises(UsageError) as error:
        load_model(f"{models_file}:wrong_type")
    assert str(error.value) == (f"factory '{models_file}:wrong_type' returned a int; expected an "
                                "nn.Module, a (module, example_inputs) pair or a "
                                "torchready.ModelSpec.")


def test_wrong_example_inputs(models_file):
    with pytest.raises(UsageError, match=r"example inputs of a list of \(int, int\); they must "
                                         r"be a tensor or a tuple of tensors"):
        load_model(f"{models_file}:wrong_examples")


def test_bare_module_without_declarations(models_file):
    with pytest.raises(UsageError, match=r"without example inputs; declare each forward input "
                                         r"with --input NAME:SHAPE"):
        load_model(f"{models_file}:bare")


def test_declaration_count_must_match_examples(models_file):
    decls = [parse_input_decl("a:1x4"), parse_input_decl("b:1x4")]
    with pytest.raises(UsageError, match="2 --input declarations given but factory"):
        load_model(f"{models_file}:pair", decls)


def test_declared_shape_must_match_example(models_file):
    with pytest.raises(UsageError, match="declares shape 1x5 but the factory's example has "
                                         "shape 1x4"):
        load_model(f"{models_file}:pair", [parse_input_decl("x:1x5")])


def test_cli_turns_usage_errors_into_exit_2(models_file, capsys):
    from torchready.cli import main

    code = main(["audit", f"{models_file}:raises", "--quiet"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.strip().splitlines()[-1] == (
        f"torchready: error: factory '{models_file}:raises' raised ValueError: no weights for "
        "this size.")


# --- input declarations -------------------------------------------------------------------


def test_parse_fixed_and_image():
    decl = parse_input_decl("image:1x3x224x224:image")
    assert decl == InputDecl("image", (1, 3, 224, 224), {}, "float32", image=True)


def test_parse_ranges_and_defaults():
    decl = parse_input_decl("x:1x3x(64..512)x(64..512=224)")
    assert decl.shape == (1, 3, 64, 224)
    assert decl.ranges == {2: (64, 512), 3: (64, 512)}
    tokens = parse_input_decl("tokens:1x(1..128):int64")
    # A size-1 example would let the tracer specialise broadcasting: the example uses 2.
    assert tokens.shape == (1, 2) and tokens.ranges == {1: (1, 128)} and tokens.dtype == "int64"
    assert parse_input_decl("x:(1..)x8").ranges == {0: (1, -1)}


@pytest.mark.parametrize("text, fragment", [
    ("x", "invalid --input 'x': expected NAME:SHAPE[:TYPE]"),
    ("1x:1x3", "'1x' is not a valid input name"),
    ("x:1x3:complex", "unknown type 'complex'"),
    ("x:1xfoo", "cannot read dimension 'foo'"),
    ("x:1x(8..4)", "range '(8..4)' needs 1 <= LO <= HI"),
    ("x:1x(2..4=9)", "example size 9 is outside the range 2..4"),
    ("x:1x0", "dimension 1 must be at least 1"),
    ("img:1x4x8x8:image", "an image input must be N x C x H x W with C = 3 (RGB) or 1"),
    ("x:1xx3", "invalid --input shape '1xx3'"),
])
def test_parse_errors(text, fragment):
    with pytest.raises(UsageError) as error:
        parse_input_decl(text)
    assert fragment in str(error.value)
    assert "\n" not in str(error.value)


def test_example_inputs_follow_the_declared_dtype():
    decls = [parse_input_decl(text) for text in
             ("a:2x3", "ids:1x5:int64", "ids32:1x5:int32", "mask:1x5:bool", "img:1x3x4x4:image")]
    tensors = make_example_inputs(decls)
    assert [t.dtype for t in tensors] == [torch.float32, torch.int64, torch.int32, torch.bool,
                                          torch.float32]
    assert [tuple(t.shape) for t in tensors] == [d.shape for d in decls]
    assert 0 <= float(tensors[4].min()) and float(tensors[4].max()) <= 1
    assert set(tensors[1].unique().tolist()) <= {0, 1}


# --- checkpoints ----------------------------------------------------------------------------


def test_checkpoint_round_trip(tmp_path):
    source = torch.nn.Linear(3, 2)
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": source.state_dict(), "epoch": 3}, path)
    target = torch.nn.Linear(3, 2)
    load_checkpoint(target, path)
    assert torch.equal(target.weight, source.weight)


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_checkpoint_with_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"weight": torch.ones(1), "payload": _Payload()}, path)
    with pytest.raises(UsageError, match="cannot be loaded with weights_only=True"):
        load_checkpoint(torch.nn.Linear(1, 1), path)


def test_checkpoint_mismatch_and_missing(tmp_path):
    path = tmp_path / "other.pt"
    torch.save(torch.nn.Linear(5, 5).state_dict(), path)
    with pytest.raises(UsageError, match="does not match the model"):
        load_checkpoint(torch.nn.Linear(3, 2), path)
    with pytest.raises(UsageError, match="does not exist"):
        load_checkpoint(torch.nn.Linear(3, 2), tmp_path / "nope.pt")
