from __future__ import annotations

import libcst as cst

from torchready.lint.analysis.calls import bound_arguments
from torchready.lint.analysis.expressions import chain_root, input_free
from torchready.lint.analysis.guards import TRACE, capture_function, in_message
from torchready.lint.analysis.values import is_model_attribute
from torchready.lint.codegen import code
from torchready.lint.rule import Invalid, Rule, Valid
from torchready.lint.types import Severity
from torchready.lint.targets import PYTHON_RUNNING

CONVERTING_METHODS = {"item": "a Python number", "tolist": "a Python list",
                      "numpy": "a NumPy array"}
CONVERTING_BUILTINS = {"int": "a Python int", "float": "a Python float", "bool": "a Python bool"}
# Builtins that iterate over their one argument.
ITERATING_BUILTINS = {"list", "tuple", "sorted", "set", "sum", "max", "min", "enumerate", "zip",
                      "reversed", "dict", "frozenset"}
CONSTANT_FACTORIES = {"torch.tensor", "torch.as_tensor"}
# Calls whose argument a size rule reports already (math on a size, a loop over a range).
SIZE_CONSUMERS = ("math.", "numpy.")
SIZE_CONSUMER_BUILTINS = {"int", "float", "min", "max", "range", "round"}


class TensorToPython(Rule):
    """
    ## What it does
    Finds, in code that runs under `torch.jit.trace`, where a tensor (or a traced size) becomes
    Python data: `.item()`, `.tolist()`, `.numpy()` (also `.cpu().numpy()`) and `int(t)`,
    `float(t)`, `bool(t)` of tensor values; tensors and sizes formatted into strings
    (`f"height ({h})"`, also as the message of `torch._assert`, which is built on every call);
    `len(t)` of a tensor; iterating over a tensor outside a loop (`a, b = t`, `list(t)`,
    `zip(t, u)`, `f(*t)`); and `torch.tensor(...)` / `torch.as_tensor(...)` of Python lists or
    numbers computed from the input (`torch.tensor([h, w])`).

    ## Why is this bad?
    The tracer records tensor operations only. Turning a tensor into a Python value leaves the
    graph: the tracer warns "Converting a tensor to a Python number might cause the trace to be
    incorrect. We can't record the data flow of Python values, so this value will be treated as
    a constant in the future" and bakes the example's value into the trace. Every later input
    silently reuses it (a count of padding tokens, a maximum position, a threshold). `.numpy()`
    on a value that reaches the output fails the trace ("Tracer cannot infer type").
    Formatting a traced value calls `.item()` on it (same warning; measured, the graph is
    unchanged when the string only feeds a check's message, so that case is information, and
    the string itself holds the example's value: a key or a name built from it is baked). `len(t)`
    returns a plain int ("Using len to get tensor shape might cause the trace to be
    incorrect"); unpacking or listing a tensor iterates over its first dimension ("Iterating
    over a tensor might cause the trace to be incorrect"), so the number of items is the
    example's. `torch.tensor([h, w])` records its values as constants ("torch.tensor results
    are registered as constants in the trace"): measured, a traced `x / torch.tensor([x.size(-1),
    2])[0]` keeps dividing by the example's width.

    ## Example
    ```python
    max_len = attention_mask.sum(-1).max().item()
    return hidden[:, :max_len]
    ```

    ## Use instead
    Keep the value a tensor (`torch.where`, masking, `index_select`), or compile the function
    with `torch.jit.script`, which records `.item()` as an op. Use `x.size(0)` instead of
    `len(x)`, `x.unbind(0)` instead of unpacking, `torch.stack`/`x.new_tensor` of sizes that stay
    traced (`torch.tensor(x.size(-1))` of one size is recorded correctly), and build messages
    only when a check fails (`if h != w: raise ValueError(f"...{h}")`).

    `torch.export` does not bake the value silently: where the value decides a size or a Python
    number it stops with "Could not extract specialized integer from data-dependent
    expression" (`int(t)`, `range(n.item())`, `torch.split(x, n.item())`), and `.numpy()` fails
    outright. Its remedy differs: keep the `.item()` (a symbolic value export can carry, not
    `int(t)`) and state what you know with `torch._check(...)` / `torch._check_is_size(...)`;
    a Python loop over such a value cannot be exported. `torchready convert --mode export`
    reports each of these at its line (torch's `draft_export`).

    ## Fix safety
    No fix: the tensor version of the computation depends on what the value is used for.

    ## Known false positives
    A value that is the same for every input (computed only from the model's weights, such as
    `self.logit_scale.exp().item()`) is baked in harmlessly and is not reported. Code inside
    `if not torch.jit.is_tracing():`, `if self.training:` and in `raise`/warning messages never
    runs in the trace and is not reported. Sizes (`int(x.size(0))`) are TR102's business, loops
    over tensors TR105's (`len(t)` inside `range(...)`, `math.sqrt(len(t))` are left to them).
    Unpacking a tensor whose first dimension the model fixes (`q, k, v = qkv` after a reshape
    to 3 parts) is reported: the count is baked, harmlessly. Iterating, unpacking and `len`
    are reported only on values certainly a tensor: not on what a submodule or a function of
    unknown return returned (`a, b = self.block(x)`), not on parameters only an annotation
    calls a tensor (`position_embeddings: torch.Tensor` holding `cos, sin`) or that callers
    pass tuples to, and not on torch functions that return tuples (`torch.unique(...,
    return_inverse=True)`, `F.multi_head_attention_forward`). `torch.tensor` of literals, of
    the model's attributes and of arithmetic on them (`torch.tensor(1 / 0.07)`,
    `torch.tensor(self.config.thresholds)`), or of a parameter every caller in the file passes
    such a value to, is the same for every input and not reported;
    other Python values are information (the warning is real, the harm depends on whether
    the value follows the input), also tables built in a loop from module constants
    (`torch.tensor(restype_atom14_mask_list)` in ESMFold), which are the same for every input. An f-string that only feeds the message of a check
    (`torch._assert`, `torch._check`) is information: the warning, not a wrong graph.
    """

    CODE = "TR103"
    NAME = "tensor-to-python"
    SUMMARY = "`.item()`/`.tolist()`/`.numpy()`/`int(t)` bake a tensor's value into the trace"
    TARGETS = PYTHON_RUNNING

    VALID = [
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    return x / x.sum()  # stays a tensor
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    if not torch.jit.is_tracing():
                        print("mean", x.mean().item())  # never runs under trace
                    return x
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    return x * self.logit_scale.exp().item()  # weights only: same for every input
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    if x.size(0) > 8:
                        raise ValueError(f"batch too large: {x.max().item()}")  # message only
                    return x
        """),
        Valid("""
            def summarize(x):  # not called from forward: not traced
                return x.mean().item()
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    return x.reshape(int(x.size(0)), -1)  # a size: TR102, not TR103
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x, mask):
                    n = mask.sum()
                    torch._check(n > 0, lambda: f"got {int(n)} tokens")  # message, built on failure
                    return x
        """),
        Valid("""
            @torch.jit.script
            def threshold(x):
                return x > x.mean().item()  # script records `.item()` as an op
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    if self.training:
                        self.seen += int(x.sum())  # training-only bookkeeping
                    return x
        """),
        Valid("""
            class Net(nn.Module):
                def forward(self, x):
                    h = x.size(-1)
                    if h != self.size:
                        raise ValueError(f"width {h} != {self.size}")  # built only on failure
                    scale = torch.tensor(x.size(-1))  # one traced size: recorded correctly
                    rows = x.unbind(0)  # a tuple of tensors, not an iteration
                    return x / scale + torch.tensor(0.5) * rows[0]
        """),
        Valid("""
            class Attention(nn.Module):
                # regression (mllama): annotated as a tensor, passed the rotary `cos, sin`
                def forward(self, x, position_embeddings: torch.Tensor):
                    cos, sin = position_embeddings
                    return x * cos + x.flip(-1) * sin

            class Decoder(nn.Module):
                def forward(self, x):
                    position_embeddings = (x.cos(), x.sin())
                    return self.attention(x, position_embeddings)
        """),
        Valid("""
            import torch.nn.functional as F

            class Attention(nn.Module):
                def forward(self, q, k, v):
                    # regression (wavlm): these return tuples, not tensors
                    out, weights = F.multi_head_attention_forward(q, k, v, 4, 2, None, None,
                                                                  None, None, False, 0.0,
                                                                  self.w, self.b)
                    keys, inverse = torch.unique(q, dim=0, return_inverse=True)
                    features, mask = self.backbone(q)
                    return out + keys.sum() + inverse.sum() + features
        """),
        Valid("""
            def contrastive_loss(logits):
                return nn.functional.cross_entropy(logits, torch.arange(len(logits)))

            class Clip(nn.Module):
                # regression (altclip, x_clip): the loss is computed only when asked for
                def forward(self, image, text, return_loss=None):
                    logits = self.image(image) @ self.text(text).t()
                    if return_loss:
                        return contrastive_loss(logits)
                    return logits
        """),
        Valid("""
            class Head(nn.Module):
                def forward(self, logits):
                    # the same for every input: no constant that could go wrong
                    scale = torch.tensor(1 / 0.07).log()
                    thresholds = torch.tensor(self.config.class_thresholds)
                    return logits * scale > thresholds
        """),
        Valid("""
            import numpy as np

            class Model(nn.Module):
                # regression (minicpmv4_7, dots3_note, qwen2_5_omni): every caller passes a
                # literal or a config value, the same for every input
                def placeholder_mask(self, embeds, token_id: int):
                    token = self.embed(torch.tensor(token_id, device=embeds.device))
                    return (embeds == token).all(-1)

                def to_db(self, amplitude, min_db_level):
                    return torch.clamp(amplitude, min=torch.tensor(min_db_level / 20.0 * np.log(10)).exp())

                def forward(self, embeds, amplitude):
                    mask = self.placeholder_mask(embeds, self.config.image_token_id)
                    return mask, self.to_db(amplitude, -115)
        """),
        Valid("""
            import numpy as np

            class Decoder(nn.Module):
                # regression (LayerDrop in speech models): a NumPy value, never a tensor
                def forward(self, x):
                    for layer in self.layers:
                        p = np.random.rand(1).item()
                        if not (self.training and p < self.layerdrop):
                            x = layer(x)
                    return x
        """),
    ]

    INVALID = [
        Invalid("""
            class Crop(nn.Module):
                def forward(self, hidden, attention_mask):
                    max_len = attention_mask.sum(-1).max().item()
                    return hidden[:, :max_len]
        """),
        Invalid("""
            class Detector(nn.Module):
                def forward(self, scores):
                    keep = scores.argmax(-1).tolist()
                    return scores[keep]
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    return torch.from_numpy(x.cpu().numpy() * 2)
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x, threshold):
                    count = int((x > threshold).sum())
                    return x[:count]
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    return self.scale(x)

                def scale(self, x):
                    factor = float(x.abs().max())
                    return x / factor
        """),
        Invalid("""
            class Gate(nn.Module):
                def forward(self, x):
                    use = bool(x.mean() > 0)
                    return x * use
        """),
        Invalid("""
            class PatchEmbed(nn.Module):
                def forward(self, x):
                    n, c, h, w = x.shape
                    # the message is built on every call, formatting traced sizes
                    torch._assert(x.dtype == torch.float32, f"expected float32 for {h}x{w}")
                    return self.proj(x)
        """),
        Invalid("""
            class Model(nn.Module):
                def forward(self, input_ids, features):
                    n_tokens = (input_ids == self.image_token_id).sum()
                    # information: the message is built on every call, the graph is unchanged
                    torch._check(features.numel() > 0, f"{n_tokens} image tokens, no features")
                    return features
        """),
        Invalid("""
            class PositionTables(nn.Module):
                def forward(self, x):
                    h, w = x.shape[-2:]
                    return x + self.tables[f"{h}x{w}"]  # a key built from traced sizes
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, boxes):
                    count = len(boxes)
                    return boxes / count
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, sizes):
                    height, width = sizes
                    return height * width
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x):
                    scale = torch.tensor([x.size(-1), x.size(-2)])
                    return x / scale[0]
        """),
        Invalid("""
            class Net(nn.Module):
                def forward(self, x, mask):
                    return torch.stack(list(x * mask))
        """),
        Invalid("""
            class RelativePosition(nn.Module):
                def forward(self, x):
                    mid = self.bucket_size // 2
                    return x / torch.tensor(mid - 1)  # information: the same for every input
        """),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        self._check_python_data(node)
        func = node.func
        if isinstance(func, cst.Attribute):
            kind = CONVERTING_METHODS.get(func.attr.value)
            if kind is None or node.args:
                return
            value = func.value
        elif isinstance(func, cst.Name) and len(node.args) == 1 and not node.args[0].keyword:
            kind = CONVERTING_BUILTINS.get(func.value)
            if kind is None or self.context.imports.bindings.get(func.value):
                return
            value = node.args[0].value
        else:
            return
        function = capture_function(self.context, TRACE)
        if function is None or in_message(self.context.ancestors):
            return
        facts = self.context.facts(function)
        if isinstance(func, cst.Name) and not facts.is_confirmed_tensor(value):
            return  # int()/float()/bool() of Python data, or of a size (TR102)
        if facts.is_size(value) or input_free(value) or self._from_numpy(value):
            return
        shown = code(self.context.module, node)
        if kind == CONVERTING_METHODS["numpy"]:
            export = "torch.export fails on `.numpy()`: keep the computation in torch ops"
        else:
            export = ("torch.export needs `.item()` and `torch._check(...)` / "
                      "`torch._check_is_size(...)` on its result instead")
        self.report(
            node,
            f"`{shown}` turns a tensor into {kind}: torch.jit.trace records the example's value "
            "as a constant, so other inputs silently reuse it; keep it a tensor or script this "
            f"code ({export})",
        )

    def _from_numpy(self, value: cst.BaseExpression) -> bool:
        """`np.random.rand(1).item()`: a NumPy value, which the tracer never sees."""
        root = chain_root(value)
        if not isinstance(root, cst.Call):
            return False
        name = self.context.imports.resolve(root.func) or ""
        return name == "numpy" or name.startswith("numpy.")

    # -- formatting, len, iteration, constants --------------------------------------------------
    def _facts(self):
        """The facts of the enclosing traced function when the node being visited runs under
        trace (None otherwise)."""
        function = capture_function(self.context, TRACE)
        if function is None or in_message(self.context.ancestors):
            return None
        return self.context.facts(function)

    def _is_tensor(self, node: cst.BaseExpression, facts) -> bool:
        return facts.is_tensor_at(node, self.context.ancestors) and \
            not facts.is_sequence(node, self.context.ancestors)

    def _is_one_tensor(self, node: cst.BaseExpression, facts) -> bool:
        """Certainly a tensor, not a tuple a submodule returned: what iterating and `len`
        read the first dimension of."""
        return facts.is_one_tensor_at(node, self.context.ancestors)

    def visit_FormattedString(self, node: cst.FormattedString) -> None:
        facts = self._facts()
        if facts is None:
            return
        for part in node.parts:
            if isinstance(part, cst.FormattedStringExpression) and (
                    facts.is_shape_size(part.expression)
                    or self._is_tensor(part.expression, facts)):
                shown = code(self.context.module, part.expression)
                if _check_message(self.context.ancestors):
                    self.report(node, f"the f-string formats `{shown}`, a traced value, into "
                                      "the message of a check, built on every call: "
                                      "torch.jit.trace converts it to a Python number and "
                                      "warns (\"Converting a tensor to a Python number\") on "
                                      "every trace; the graph does not use the message. Build "
                                      "it only on failure (`lambda: f\"...\"` where the check "
                                      "takes one)", severity=Severity.INFO)
                else:
                    self.report(node, f"the f-string formats `{shown}`, a traced value: "
                                      "torch.jit.trace converts it to a Python number, so the "
                                      "string holds the example's value for every input (code "
                                      "that looks things up by it takes the example's path); "
                                      "build the message only when it is needed")
                return

    def visit_Assign(self, node: cst.Assign) -> None:
        if not any(isinstance(target.target, (cst.Tuple, cst.List)) for target in node.targets):
            return
        facts = self._facts()
        if facts is not None and self._is_one_tensor(node.value, facts):
            self._report_iteration(node.value, "unpacking")

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.star == "*":
            facts = self._facts()
            if facts is not None and self._is_one_tensor(node.value, facts):
                self._report_iteration(node.value, "`*` unpacking")

    def _check_python_data(self, node: cst.Call) -> None:
        name = self.context.imports.resolve_or_name(node.func)
        if name is None or not node.args or node.args[0].star or node.args[0].keyword:
            return
        first = node.args[0].value
        if name == "len" and len(node.args) == 1 and not self._size_consumer():
            facts = self._facts()
            if facts is not None and self._is_one_tensor(first, facts):
                shown = code(self.context.module, node)
                self.report(node, f"`{shown}` reads a tensor's first dimension as a Python int: "
                                  "torch.jit.trace records the example's value as a constant "
                                  "(\"Using len to get tensor shape\"); use "
                                  f"`{code(self.context.module, first)}.size(0)`")
        elif name in ITERATING_BUILTINS and len(node.args) == 1 and \
                name not in self.context.imports.bindings and not self._loop_iterable(node):
            facts = self._facts()
            if facts is not None and self._is_one_tensor(first, facts):
                self._report_iteration(first, f"`{name}(...)`")
        elif name in CONSTANT_FACTORIES:
            facts = self._facts()
            if facts is None:
                return
            shown = code(self.context.module, node)
            if self._from_input(first, facts):
                self.report(node, f"`{shown}` builds a tensor from Python values computed from "
                                  "the input: torch.jit.trace registers it as a constant with "
                                  "the example's values; build it with tensor ops "
                                  "(`torch.stack` of sizes, arithmetic on `x.size(i)`)")
            elif not self._fixed(first, facts) and not facts.is_confirmed_tensor(first) and \
                    not self._one_size(first, facts):
                self.report(node, f"`{shown}` builds a tensor from Python values: "
                                  "torch.jit.trace registers it as a constant (\"torch.tensor "
                                  "results are registered as constants\"), harmless when the "
                                  "value is the same for every input, wrong when it follows "
                                  "the input", severity=Severity.INFO)

    def _report_iteration(self, node: cst.BaseExpression, how: str) -> None:
        shown = code(self.context.module, node)
        self.report(node, f"{how} iterates over the tensor `{shown}`: torch.jit.trace fixes the "
                          "number of items at the example's first dimension (\"Iterating over "
                          "a tensor\"); use `.unbind(0)` or indexing, or script this code "
                          "(harmless when the model fixes that dimension)")

    def _from_input(self, node: cst.BaseExpression, facts) -> bool:
        """A Python list, tuple or number whose values come from tensors or traced sizes
        (`[x.size(-1), 2]`, `len(t)`); not one size or tensor alone, which trace records."""
        if isinstance(node, (cst.List, cst.Tuple)):
            return any(not isinstance(element, cst.StarredElement) and (
                facts.mentions_size(element.value) or facts.is_confirmed_tensor(element.value))
                for element in node.elements)
        if isinstance(node, cst.Call) and self.context.imports.resolve_or_name(node.func) == "len":
            return bool(node.args) and facts.is_confirmed_tensor(node.args[0].value)
        if isinstance(node, cst.Name):
            bindings = facts.bindings.get(node.value, ())
            return any(not binding.element and isinstance(binding.value, (cst.List, cst.Tuple))
                       and self._from_input(binding.value, facts) for binding in bindings)
        return False

    def _fixed(self, node: cst.BaseExpression, facts) -> bool:
        """`_fixed`, also through parameters every caller in the file passes a fixed value to
        (`placeholder_mask(x, self.config.image_token_id)`, `to_db(x, -115)`) and `math.*` /
        `numpy.*` of fixed values (`np.log(10)`)."""
        return _fixed(node, self._fixed_parameters(facts),
                      self.context.imports.resolve_or_name)

    def _fixed_parameters(self, facts) -> frozenset[str]:
        """Parameters of the enclosing function, never reassigned, that every caller in the
        file passes a fixed value to (none without callers)."""
        function = self.context.function
        if function is None:
            return frozenset()
        sites = self.context.model_code.call_sites.get(id(function.node), ())
        params = function.node.params
        names = {param.name.value for param in (
            *params.posonly_params, *params.params, *params.kwonly_params)}
        names = {name for name in names if not facts.bindings.get(name)}
        if not sites:
            return frozenset()
        for _, call in sites:
            passed = dict(bound_arguments(function.node, call))
            names = {name for name in names if name in passed and _fixed(passed[name])}
        return frozenset(names)

    def _one_size(self, node: cst.BaseExpression, facts) -> bool:
        """A single traced size (`x.size(-1)`, `d = x.size(-1)`), which `torch.tensor` records
        correctly (measured); a parameter may hold a tuple of sizes, and is not one."""
        if not facts.is_shape_size(node):
            return False
        if not isinstance(node, cst.Name):
            return not isinstance(node, (cst.Tuple, cst.List))
        bindings = facts.bindings.get(node.value, ())
        return bool(bindings) and not any(
            binding.element is False and isinstance(binding.value, (cst.Tuple, cst.List))
            for binding in bindings)

    def _size_consumer(self) -> bool:
        """The node being visited is the argument of math on sizes or of `range` (TR102's and
        TR105's findings)."""
        parent = self.context.ancestors[-3] if len(self.context.ancestors) > 2 else None
        if not isinstance(parent, cst.Call):
            return False
        name = self.context.imports.resolve_or_name(parent.func) or ""
        return name.startswith(SIZE_CONSUMERS) or name in SIZE_CONSUMER_BUILTINS

    def _loop_iterable(self, node: cst.Call) -> bool:
        """`for i, t in enumerate(x)`: the loop is TR105's."""
        parent = self.context.parent
        return isinstance(parent, (cst.For, cst.CompFor)) and parent.iter is node


def _check_message(ancestors) -> bool:
    """The node (the last ancestor) is (part of) a message argument of a check call:
    `torch._assert(cond, msg)`, `torch._check(cond, msg)`, a library's
    `compilable_check(cond, msg)`."""
    index = len(ancestors) - 2
    while index > 0 and isinstance(ancestors[index], (
            cst.ConcatenatedString, cst.FormattedString, cst.FormattedStringExpression)):
        index -= 1
    arg, call = ancestors[index], ancestors[index - 1]
    if not isinstance(arg, cst.Arg) or not isinstance(call, cst.Call) or call.args[0] is arg:
        return False
    func = call.func
    name = func.attr.value if isinstance(func, cst.Attribute) else \
        func.value if isinstance(func, cst.Name) else ""
    return "check" in name or "assert" in name


def _fixed(node: cst.BaseExpression, names: frozenset[str] = frozenset(),
           resolve=None) -> bool:
    """Literals, the model's own attributes (`self.scale`, `self.config.thresholds`), `names`
    (parameters known to hold such values) and arithmetic of them, with `resolve`, `math.*` /
    `numpy.*` calls of them: the same for every input."""
    def fixed(node):
        if _literal(node) or is_model_attribute(node):
            return True
        if isinstance(node, cst.Name):
            return node.value in names
        if isinstance(node, cst.BinaryOperation):
            return fixed(node.left) and fixed(node.right)
        if isinstance(node, cst.UnaryOperation):
            return fixed(node.expression)
        if isinstance(node, (cst.List, cst.Tuple)):
            return all(not isinstance(element, cst.StarredElement) and fixed(element.value)
                       for element in node.elements)
        if isinstance(node, cst.Call) and resolve is not None:
            name = resolve(node.func) or ""
            return name.startswith(("math.", "numpy.")) and all(
                not arg.star and fixed(arg.value) for arg in node.args)
        return False
    return fixed(node)


def _literal(node: cst.BaseExpression) -> bool:
    """A number, a boolean or None (signs, lists and tuples of them: `_fixed` recurses)."""
    if isinstance(node, (cst.Integer, cst.Float, cst.Imaginary)):
        return True
    return isinstance(node, cst.Name) and node.value in ("True", "False", "None")

