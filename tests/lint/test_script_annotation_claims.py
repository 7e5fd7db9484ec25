"""The annotation table behind TR203, checked against torch.jit.script itself.

For every annotation below, at every position the linter distinguishes (a parameter, a return
type, a module attribute), the linter's verdict must match what script does: no finding where the
annotation compiles, a finding where it fails whose quoted message is the compiler's, and advice
whose suggested annotation compiles.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import warnings

import libcst as cst
import pytest

torch = pytest.importorskip("torch")

from torchready.lint.analysis.imports import ImportTable  # noqa: E402
from torchready.lint.analysis.script_annotations import (ATTRIBUTE, PARAMETER,  # noqa: E402
                                                         RETURN, unscriptable_annotation)

HEADER = ("import collections.abc\nimport typing\nimport torch\nfrom torch import nn\n"
          "from typing import *\nfrom torch import Tensor\n")
IMPORTS = ImportTable.from_module(cst.parse_module(HEADER))

REJECTED = [
    "dict", "Dict", "List", "Tuple", "typing.Dict", "Optional[dict]", "Optional[Dict]",
    "Optional[list]", "Optional[tuple]", "Union[dict, None]", "dict | None", "Union[int, dict]",
    "Union[torch.Tensor, Tuple]", "Union[torch.Tensor, tuple]", "Tuple[int, ...]",
    "tuple[torch.Tensor, ...]", "Optional[Tuple[int, ...]]", "List[dict]", "Dict[str, dict]",
    "List[Dict]", "Sequence[int]", "collections.abc.Sequence[int]", "Iterable[torch.Tensor]",
    "Mapping[str, torch.Tensor]", "Callable", "Callable[[torch.Tensor], torch.Tensor]",
    "Optional[Callable]", "Sequence", "set", "Set[int]", "object", "torch.Size",
    "Optional[torch.Size]", "'Optional[dict]'", "list[dict] | None",
    "tuple[torch.Tensor, ...] | None", "tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]",
]
ACCEPTED = [
    "Any", "Optional[Any]", "Dict[str, Any]", "List[Any]", "Dict[str, torch.Tensor]",
    "dict[str, torch.Tensor]", "list[int]", "Optional[List[int]]", "torch.Tensor | None",
    "Union[list, None]", "list | None", "List[list]", "Tuple[()]", "int | float",
    "Tuple[torch.Tensor, torch.Tensor]", "Optional[Dict[str, Any]]", "'Dict[str, Tensor]'",
    "torch.FloatTensor", "Optional[str]",
]
# A bare `list`/`tuple` compiles as a parameter and as a return type; no value converts to it.
UNTYPED = ["list", "tuple"]

_files = itertools.count()


def _script(source: str, tmp_path):
    """Import `source` as a real module (script reads the file back) and script its `M()`."""
    path = tmp_path / f"annotation_{next(_files)}.py"
    path.write_text(HEADER + source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec.loader.exec_module(module)
        return torch.jit.script(module.M())


def _source(annotation: str, where: str) -> str:
    if where == PARAMETER:
        return (f"class M(nn.Module):\n    def forward(self, x: torch.Tensor, extra: {annotation}):"
                "\n        return x\n")
    if where == RETURN:
        return (f"class M(nn.Module):\n    def forward(self, x: torch.Tensor) -> {annotation}:\n"
                "        raise RuntimeError('not called')\n")
    return (f"class M(nn.Module):\n    extra: {annotation}\n\n    def __init__(self):\n"
            "        super().__init__()\n        self.extra = None\n\n"
            "    def forward(self, x: torch.Tensor):\n        return x\n")


def _error(source: str, tmp_path) -> str | None:
    try:
        _script(source, tmp_path)
    except Exception as failure:  # noqa: BLE001 - any compiler error is the answer
        return " ".join(str(failure).split())
    return None


def _verdict(annotation: str, where: str):
    return unscriptable_annotation(cst.parse_expression(annotation), IMPORTS, where)


@pytest.mark.parametrize("where", [PARAMETER, RETURN])
@pytest.mark.parametrize("annotation", REJECTED + ACCEPTED)
def test_signature_verdicts_match_the_compiler(annotation, where, tmp_path):
    verdict = _verdict(annotation, where)
    error = _error(_source(annotation, where), tmp_path)
    if verdict is None:
        assert error is None, error
        return
    assert error is not None, f"{annotation} compiles as a {where}"
    for fragment in verdict.error.split(" ... "):
        assert fragment in error, (verdict.error, error)
    suggested = re.search(r"`([^`]+)`", verdict.advice)
    if suggested is not None:
        assert _error(_source(suggested.group(1), where), tmp_path) is None, verdict.advice


@pytest.mark.parametrize("annotation, value, rejected", [
    ("dict", "{'a': 1}", True), ("Optional[dict]", "None", True), ("Dict", "{'a': 1}", True),
    ("List", "[1]", True), ("list", "[1]", True), ("tuple", "(1, 2)", True),
    ("Tuple[int, ...]", "(1, 2)", True), ("Sequence[int]", "[1]", True),
    ("Callable", "None", True), ("dict | None", "None", True),
    ("Dict[str, int]", "{'a': 1}", False), ("Any", "None", False),
    ("Optional[Dict[str, int]]", "None", False), ("List[int]", "[1]", False),
])
def test_module_attribute_verdicts_match_the_compiler(annotation, value, rejected, tmp_path):
    verdict = _verdict(annotation, ATTRIBUTE)
    source = _source(annotation, ATTRIBUTE).replace("self.extra = None", f"self.extra = {value}")
    error = _error(source, tmp_path)
    assert (verdict is not None) == rejected == (error is not None), (verdict, error)
    if verdict is not None:
        for fragment in verdict.error.split(" ... "):
            assert fragment in error, (verdict.error, error)


@pytest.mark.parametrize("annotation, value", [("list", [torch.ones(1)]),
                                               ("tuple", (torch.ones(1), torch.ones(1)))])
def test_untyped_list_and_tuple_parameters_compile_but_take_no_value(annotation, value,
                                                                     tmp_path):
    verdict = _verdict(annotation, PARAMETER)
    assert verdict is not None and _verdict(annotation, RETURN) is None
    scripted = _script(_source(annotation, PARAMETER), tmp_path)
    with pytest.raises(RuntimeError) as failure:
        scripted(torch.ones(1), value)
    assert verdict.error in " ".join(str(failure.value).split())
    fixed = re.search(r"`([^`]+)`", verdict.advice).group(1)
    _script(_source(fixed, PARAMETER), tmp_path)(torch.ones(1), value)
