"""Which attributes of a module class are `nn.ModuleList`/`Sequential`/`ModuleDict` containers,
and which are compile-time constants (`Final[...]`, `__constants__`).

TorchScript compiles an index into a module container to the one submodule it names, so the index
must be a literal (or a constant attribute); a container built in `__init__` is found from the
assignment `self.layers = nn.ModuleList(...)`, also through same-file subclasses of the
container classes (`class Blocks(nn.Sequential)`), in the class and its same-file bases.
"""

from __future__ import annotations

import libcst as cst

from torchready.lint.analysis.imports import iter_statements
from torchready.lint.analysis.model_code import ModelCode

# Container class -> what it is indexed by in script ("int": ModuleList-like, "str": dict-like).
CONTAINERS = {"ModuleList": "int", "Sequential": "int", "ParameterList": "int",
              "ModuleDict": "str", "ParameterDict": "str"}
FINAL_NAMES = {"typing.Final", "typing_extensions.Final", "torch.jit.Final", "Final"}


def container_class(model_code: ModelCode, call: cst.BaseExpression) -> str | None:
    """`nn.ModuleList` for `nn.ModuleList([...])` (or a same-file subclass of it), else None."""
    if not isinstance(call, cst.Call):
        return None
    return _container_name(model_code, model_code.imports.resolve_or_name(call.func) or "",
                           depth=0)


def _container_name(model_code: ModelCode, name: str, depth: int) -> str | None:
    last = name.rsplit(".", 1)[-1]
    if last in CONTAINERS and name.startswith(("torch.nn.", "nn.")):
        return last
    if name in model_code.classes and depth < 8:
        for base in model_code.base_names(name):
            found = _container_name(model_code, base, depth + 1)
            if found is not None:
                return found
    return None


def assigned_attributes(model_code: ModelCode, class_name: str) -> dict[str, list]:
    """Attribute name -> the values `self.<name> = ...` assigns in the methods of the class and
    its same-file bases."""
    found: dict[str, list] = {}
    for owner in model_code.class_lineage(class_name):
        for (method_owner, _), method in model_code.methods.items():
            if method_owner != owner:
                continue
            for statement in iter_statements(_body(method), enter_definitions=False):
                for target, value in _self_assignments(statement):
                    found.setdefault(target, []).append(value)
    return found


def container_attributes(model_code: ModelCode, class_name: str) -> dict[str, str]:
    """Attribute name -> container class (`ModuleList`, ...), from
    `self.<name> = nn.ModuleList(...)`."""
    found: dict[str, str] = {}
    for name, values in assigned_attributes(model_code, class_name).items():
        kinds = {container_class(model_code, value) for value in values} - {None}
        if kinds:
            found[name] = sorted(kinds)[0]
    return found


def constant_attributes(model_code: ModelCode, class_name: str) -> set[str]:
    """Names declared `Final[...]` or listed in `__constants__` in the class or its bases."""
    names: set[str] = set()
    for owner in model_code.class_lineage(class_name):
        for statement in _body(model_code.classes[owner]):
            for small in (statement.body if isinstance(statement, cst.SimpleStatementLine)
                          else ()):
                if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                    head = small.annotation.annotation
                    head = head.value if isinstance(head, cst.Subscript) else head
                    if (model_code.imports.resolve_or_name(head) or "") in FINAL_NAMES:
                        names.add(small.target.value)
                elif isinstance(small, cst.Assign) and any(
                        isinstance(t.target, cst.Name) and t.target.value == "__constants__"
                        for t in small.targets):
                    names |= _strings(small.value)
    return names


def _self_assignments(statement: cst.CSTNode):
    if isinstance(statement, cst.Assign):
        for target in statement.targets:
            name = _self_attribute(target.target)
            if name:
                yield name, statement.value
    elif isinstance(statement, cst.AnnAssign) and statement.value is not None:
        name = _self_attribute(statement.target)
        if name:
            yield name, statement.value


def _self_attribute(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and \
            node.value.value == "self":
        return node.attr.value
    return None


def _strings(node: cst.BaseExpression) -> set[str]:
    if not isinstance(node, (cst.List, cst.Tuple, cst.Set)):
        return set()
    return {element.value.evaluated_value for element in node.elements
            if isinstance(element.value, cst.SimpleString)
            and isinstance(element.value.evaluated_value, str)}


def _body(node: cst.FunctionDef | cst.ClassDef) -> list:
    return list(node.body.body) if isinstance(node.body, cst.IndentedBlock) else []
