"""What flows through the calls between the captured functions of one file: which parameters
callers pass tensors and traced sizes to, and what callees return. Solved to a fixpoint.

The two directions depend on each other: `hidden, pad = self.maybe_pad(x, h, w)` makes `pad` a
size only if `maybe_pad` returns sizes, which it does only because `h` and `w` are sizes its
caller passes. Computing each function's facts on demand and recursing into callers and callees
gives answers that depend on the order rules ask in (and recomputation that explodes), so the
functions are analysed in rounds instead: every round computes the facts of the functions whose
inputs changed, then what they pass and return; it stops when nothing changes (a value travels
one call per round: a model's forward -> encoder -> stage -> layer -> helper takes five). Only
functions whose inputs changed are analysed again, and facts cost about a tenth of a lint.
"""

from __future__ import annotations

from typing import Callable

import libcst as cst

from torchready.lint.analysis.calls import bound_arguments, returns_of
from torchready.lint.analysis.model_code import FunctionInfo, ModelCode
from torchready.lint.analysis.returns import Returns
from torchready.lint.analysis.values import ValueFacts

MAX_ROUNDS = 12

FactsBuilder = Callable[[FunctionInfo, "CallFlow"], ValueFacts]


class CallFlow:
    def __init__(self, model_code: ModelCode, build: FactsBuilder,
                 project_tensors: Callable[[FunctionInfo], frozenset[str]],
                 project_sizes: Callable[[FunctionInfo], frozenset[str]]) -> None:
        """`build(info)`: the facts of a captured function, reading this object's current
        state for what callers pass and callees return. `project_*`: what callers in other
        files pass."""
        self.model_code = model_code
        self.tensors: dict[int, set[str] | None] = {}  # id(info) -> None: nothing here calls it
        self.sizes: dict[int, set[str]] = {}
        self.sequences: dict[int, set[str]] = {}  # parameters callers pass tuples/lists to
        self.returns: dict[int, Returns] = {}  # id(function node) -> its returns
        self.facts: dict[int, ValueFacts] = {}  # id(info) -> facts of the last round
        functions = [info for info in model_code.infos.values()
                     if info.parent is None and info.is_model_code]
        for info in functions:
            called = bool(model_code.call_sites.get(id(info.node)))
            project = project_tensors(info)
            self.tensors[id(info)] = (set() if called else None) if not project else set(project)
            self.sizes[id(info)] = set(project_sizes(info))
        self._solve(functions, build)

    def _solve(self, functions: list[FunctionInfo], build: FactsBuilder) -> None:
        callers: dict[int, set[int]] = {}  # id(callee info) -> ids of caller infos
        for info in functions:
            for caller, _ in self.model_code.call_sites.get(id(info.node), ()):
                callers.setdefault(id(info), set()).add(id(caller.root))
        callees: dict[int, set[int]] = {}
        for callee, ids in callers.items():
            for caller in ids:
                callees.setdefault(caller, set()).add(callee)
        infos = {id(info): info for info in functions}
        dirty = set(infos)
        for _ in range(MAX_ROUNDS):
            if not dirty:
                break
            for key in dirty:
                self.facts[key] = build(infos[key], self)
            changed: set[int] = set()
            for key in dirty:  # what the recomputed functions return
                info = infos[key]
                returns = returns_of(info.node, self.facts[key])
                if self.returns.get(id(info.node)) != returns:
                    self.returns[id(info.node)] = returns
                    changed |= callers.get(key, set())
            # what the recomputed functions pass to their callees
            for callee in {callee for key in dirty for callee in callees.get(key, ())}:
                if self._update_arguments(infos[callee]):
                    changed.add(callee)
            dirty = changed & set(infos)

    def _update_arguments(self, info: FunctionInfo) -> bool:
        tensors = set(self.tensors.get(id(info)) or ())
        sizes = set(self.sizes.get(id(info), ()))
        sequences = set(self.sequences.get(id(info), ()))
        before = (set(tensors), set(sizes), set(sequences))
        for caller, call in self.model_code.call_sites.get(id(info.node), ()):
            facts = self.facts.get(id(caller.root))
            if facts is None:
                continue
            # What each argument holds where the call is (a name the call's result rebinds
            # is still what it was before).
            order = facts.order_of_call(call)
            for name, value in bound_arguments(info.node, call):
                if facts.is_sequence(value, (), order=order, certain=True):
                    sequences.add(name)
                elif name not in tensors and facts.is_tensor_before(value, order) and \
                        not facts.is_sequence(value, (), order=order):
                    tensors.add(name)
                if name not in sizes and facts.is_shape_size(value):
                    sizes.add(name)
        self.tensors[id(info)] = tensors
        self.sizes[id(info)] = sizes
        self.sequences[id(info)] = sequences
        return (tensors, sizes, sequences) != before

    # -- what facts read --------------------------------------------------------------------
    def tensor_arguments(self, info: FunctionInfo) -> set[str] | None:
        return self.tensors.get(id(info))

    def size_arguments(self, info: FunctionInfo) -> set[str]:
        return self.sizes.get(id(info), set())

    def sequence_arguments(self, info: FunctionInfo) -> set[str]:
        return self.sequences.get(id(info), set())

    def callee_returns(self, callee: cst.FunctionDef) -> Returns | None:
        return self.returns.get(id(callee))
