from __future__ import annotations

import libcst as cst

from torchready.lint.analysis.annotations import read_annotation
from torchready.lint.analysis.guards import SCRIPT, capture_function
from torchready.lint.analysis.imports import iter_statements
from torchready.lint.codegen import code
from torchready.lint.rule import Invalid, Rule, Valid

CONFIG_SUFFIXES = ("Config", "Configuration")
PYTHON_CALLABLES = {"functools.partial"}


class UnscriptableAttribute(Rule):
    """
    ## What it does
    Finds a configuration object stored on a module, `self.config = config`, when code that
    `torch.jit.script` compiles reads it (`self.config.is_decoder` in `forward`), and the
    config's class is one script cannot compile: a dataclass, a `dict`, a class taking
    `**kwargs`, or a library's config class (transformers' `PretrainedConfig` subclasses, what
    model libraries pass as `config`). Also a `functools.partial` stored and called the same
    way. Reported at the assignment.

    ## Why is this bad?
    Script turns every module attribute into a typed TorchScript value, compiling the classes
    of plain objects as TorchScript classes. A config class it cannot compile fails the first
    compiled read: "Module 'Net' has no attribute 'config' (This attribute exists on the Python
    module, but we failed to convert Python type: 'NetConfig' to a TorchScript type.)" (for
    transformers' configs: "Failed to get source for <function BertConfig.__init__> using
    inspect.getsource"). `functools.partial` fails the same way. Tracing and `torch.export` are
    not affected: they only run the Python.

    ## Example
    ```python
    def __init__(self, config):
        super().__init__()
        self.config = config

    def forward(self, x):
        if self.config.scale_output:
            x = x * self.config.scale
        return x
    ```

    ## Use instead
    Copy what `forward` needs into attributes of types script knows (`bool`, `int`, `float`,
    `str`, tensors, tuples and lists of them), and keep the config object off the module (or
    out of compiled code):

    ```python
    def __init__(self, config):
        super().__init__()
        self.scale_output = config.scale_output
        self.scale = config.scale
    ```

    ## Fix safety
    No fix: which values `forward` needs, and what else reads the attribute, is the author's
    call.

    ## Known false positives
    A config whose class is a plain class of the same file (an `__init__` that only assigns
    attributes) compiles and is not reported. An unannotated `config` parameter is taken for a
    library config when the file imports a `...Config` class and defines none: a project that
    passes its own plain config objects under that name may be reported. A config read only in
    methods script does not compile (`@torch.jit.ignore`, `__init__`, code under
    `if not torch.jit.is_scripting():`) is not reported, nor one stored by a base class of
    another file (`PreTrainedModel.__init__`): the read and the assignment are in different
    files.

    Left out on purpose: other Python objects kept on a module (a plain function or lambda, a
    tokenizer, a logger, a `dict` built in `__init__` rather than passed in as the config) are
    not checked; only configuration objects and `functools.partial` are, the two that model
    code stores and reads in `forward`. A config is recognised by its parameter: annotated
    with a `...Config`/`...Configuration` class, or named `config`/`*_config` (and its
    sub-configs, `config.text_config`); one passed unannotated under another name
    (`def __init__(self, cfg)`) is not reported. A config attribute copied into a local first
    (`config = self.config` and then `config.x`) counts as a read.
    """

    CODE = "TR205"
    NAME = "unscriptable-attribute"
    SUMMARY = ("a config object (or functools.partial) stored on a module and read by scripted "
               "code: torch.jit.script cannot type it")
    TARGETS = frozenset({SCRIPT})

    VALID = [
        Valid("""
            from dataclasses import dataclass

            @dataclass
            class Config:
                scale: float = 2.0

            class Net(nn.Module):
                def __init__(self, config: Config):
                    super().__init__()
                    self.scale = config.scale  # a float: script types it
                    self.config = config  # stored, but no compiled code reads it

                def forward(self, x):
                    return x * self.scale

            scripted = torch.jit.script(Net(Config()))
        """),
        Valid("""
            class Config:
                def __init__(self):
                    self.scale = 2.0

            class Net(nn.Module):
                def __init__(self, config: Config):
                    super().__init__()
                    self.config = config  # a plain class: script compiles it as a TorchScript class

                def forward(self, x):
                    return x * self.config.scale

            scripted = torch.jit.script(Net(Config()))
        """),
        Valid("""
            from transformers import BertConfig

            class Net(nn.Module):
                def __init__(self, config: BertConfig):
                    super().__init__()
                    self.config = config

                def forward(self, x):  # traced, not scripted: the Python runs
                    return x * self.config.hidden_size
        """),
        Valid("""
            from dataclasses import dataclass

            @dataclass
            class Config:
                scale: float = 2.0

            class Net(nn.Module):
                def __init__(self, config: Config):
                    super().__init__()
                    self.config = config

                @torch.jit.ignore
                def describe(self):
                    return str(self.config)  # left to Python by script

                def forward(self, x):
                    return x * 2

            scripted = torch.jit.script(Net(Config()))
        """),
        Valid("""
            class Net(nn.Module):
                def __init__(self, hidden: int):
                    super().__init__()
                    self.hidden = hidden  # a plain int parameter

                def forward(self, x):
                    return x * self.hidden

            scripted = torch.jit.script(Net(4))
        """),
    ]

    INVALID = [
        Invalid("""
            from dataclasses import dataclass

            @dataclass
            class Config:
                scale: float = 2.0

            class Net(nn.Module):
                def __init__(self, config: Config):
                    super().__init__()
                    self.config = config

                def forward(self, x):
                    return x * self.config.scale

            scripted = torch.jit.script(Net(Config()))
        """),
        Invalid("""
            class EncoderConfig:
                def __init__(self, scale=2.0, **kwargs):
                    self.scale = scale
                    for key, value in kwargs.items():
                        setattr(self, key, value)

            class Encoder(nn.Module):
                def __init__(self, settings: EncoderConfig):
                    super().__init__()
                    self.settings = settings

                def forward(self, x):
                    return self.project(x)

                def project(self, x):
                    return x * self.settings.scale

            scripted = torch.jit.script(Encoder(EncoderConfig()))
        """),
        Invalid("""
            from transformers import CLIPConfig

            class Tower(nn.Module):
                def __init__(self, config):
                    super().__init__()
                    self.text_config = config.text_config

                def forward(self, x):
                    return x * self.text_config.hidden_size

            scripted = torch.jit.script(Tower(CLIPConfig()))
        """),
        Invalid("""
            import functools

            class Gelu(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.act = functools.partial(torch.nn.functional.gelu, approximate="tanh")

                def forward(self, x):
                    return self.act(x)

            scripted = torch.jit.script(Gelu())
        """),
        Invalid("""
            from transformers import BertConfig

            class Base(nn.Module):
                def __init__(self, config):
                    super().__init__()
                    self.config = config

            class Head(Base):
                def forward(self, x):
                    return x[:, : self.config.num_labels]

            scripted = torch.jit.script(Head(BertConfig()))
        """),
    ]

    def __init__(self, context) -> None:
        super().__init__(context)
        self._reads: set[tuple[str, str]] = set()  # (class, attribute) scripted code reads

    def visit_Attribute(self, node: cst.Attribute) -> None:
        function = capture_function(self.context, SCRIPT)
        if function is None or function.class_name is None or function.name == "__init__":
            return
        if isinstance(node.value, cst.Name) and node.value.value == "self":
            self._reads.add((function.class_name, node.attr.value))

    def leave_Module(self, original_node: cst.Module) -> None:
        model_code = self.context.model_code
        reported: set[int] = set()
        for class_name, attribute in sorted(self._reads):
            for owner in model_code.class_lineage(class_name):
                init = model_code.methods.get((owner, "__init__"))
                assignment = _python_object_assignment(init, attribute, model_code) \
                    if init is not None else None
                if assignment is None:
                    continue
                if id(assignment) not in reported:
                    reported.add(id(assignment))
                    shown = _short(code(self.context.module, assignment))
                    self.report(assignment, f"`{shown}` keeps a Python object on a module whose "
                                            f"code torch.jit.script compiles, and `{class_name}` "
                                            f"reads `self.{attribute}`: script cannot type it "
                                            "(\"failed to convert Python type\"); store the "
                                            "values the compiled code needs as attributes of "
                                            "plain types", targets=(SCRIPT,))
                break


def _python_object_assignment(init: cst.FunctionDef, attribute: str, model_code):
    """The statement of `__init__` that stores an unscriptable config object or a partial in
    `self.<attr>`."""
    parameters = {param.name.value: param for param in
                  (*init.params.posonly_params, *init.params.params, *init.params.kwonly_params)}
    body = init.body.body if isinstance(init.body, cst.IndentedBlock) else ()
    for statement in iter_statements(body, enter_definitions=False):
        if not isinstance(statement, cst.Assign) or len(statement.targets) != 1:
            continue
        target = statement.targets[0].target
        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and \
                target.value.value == "self" and target.attr.value == attribute and \
                _is_python_object(statement.value, parameters, model_code):
            return statement
    return None


def _is_python_object(value: cst.BaseExpression, parameters, model_code) -> bool:
    imports = model_code.imports
    if isinstance(value, cst.Call):
        return imports.resolve(value.func) in PYTHON_CALLABLES
    if isinstance(value, cst.Attribute):
        # `config.text_config`: a sub-config of a library config
        return value.attr.value.endswith("config") and \
            _is_python_object(value.value, parameters, model_code)
    if not isinstance(value, cst.Name) or value.value not in parameters:
        return False
    param = parameters[value.value]
    if param.annotation is not None:
        members = read_annotation(param.annotation.annotation, imports).members
        configs = [member for member in members
                   if member.rsplit(".", 1)[-1].endswith(CONFIG_SUFFIXES)]
        return bool(configs) and not all(_scriptable_class(model_code, member)
                                         for member in configs)
    if not (value.value == "config" or value.value.endswith("_config")):
        return False
    # Unannotated: a library's config when the file imports config classes and defines none.
    defined = [name for name in model_code.classes if name.endswith(CONFIG_SUFFIXES)]
    imported = [local for local in imports.bindings if local.endswith(CONFIG_SUFFIXES)]
    return bool(imported) and not defined


def _scriptable_class(model_code, name: str) -> bool:
    """A class of this file that script compiles as a TorchScript class: no bases, not a
    dataclass, an `__init__` without `*args`/`**kwargs`."""
    node = model_code.classes.get(name)
    if node is None:
        return False  # a library's class (transformers' configs fail)
    if node.bases or node.decorators:
        return False
    init = model_code.methods.get((name, "__init__"))
    return init is None or not (isinstance(init.params.star_arg, cst.Param)
                                or init.params.star_kwarg is not None)


def _short(text: str) -> str:
    """`self.fn = partial(...)` for an assignment that spans lines."""
    if "\n" not in text and len(text) <= 60:
        return text
    return text.split("(", 1)[0] + "(...)" if "(" in text else text.splitlines()[0]

