"""The shape of a rule: metadata, documentation, examples, and the visitor that finds hazards.

A rule is a libcst `BatchableCSTVisitor` (all rules of a run share one traversal). It carries its
stable code and name, a one-line summary, its documentation in the class docstring (ruff's
sections: What it does / Why is this bad / Example / Use instead / Fix safety / Known false
positives), and VALID/INVALID examples that the test suite runs and `torchready explain` prints.
Rules report a node with a message and optionally a fix; the engine turns nodes into positions
and fixes into text edits.
"""

from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass
from typing import ClassVar, Sequence

import libcst as cst

from torchready.lint.analysis.guards import capture_function
from torchready.lint.context import FileContext
# Rule authors import everything from this module: the fix parts are re-exported here.
from torchready.lint.fix_spec import FixPart, FixSpec, InsertBefore, InsertImport, Replace
from torchready.lint.targets import ALL_TARGETS, SCRIPT, canonical
from torchready.lint.types import Applicability, Severity

__all__ = ["FixPart", "FixSpec", "InsertBefore", "InsertImport", "Invalid", "Replace", "Rule",
           "Valid"]


@dataclass(frozen=True)
class Valid:
    code: str


@dataclass(frozen=True)
class Invalid:
    code: str
    # The fixed source after applying this rule's fixes (safe and unsafe); None when the rule
    # offers no fix for this example.
    expected_fix: str | None = None
    # How many findings the example holds (most hold one).
    count: int = 1


class Rule(cst.BatchableCSTVisitor):
    CODE: ClassVar[str]
    NAME: ClassVar[str]
    SUMMARY: ClassVar[str]
    SEVERITY: ClassVar[Severity] = Severity.ERROR
    # Which fixes the rule can offer (None: never). Shown by `torchready rules`.
    FIX: ClassVar[Applicability | None] = None
    # A file that contains none of these substrings cannot hold this rule's hazards
    # (a cheap pre-filter before parsing, as TorchFix does with "torch").
    NEEDS_TEXT: ClassVar[Sequence[str]] = ("torch", "nn.")
    # The capture targets whose hazards the rule reports (trace, script, export). A finding's
    # targets are these, narrowed to the captures that run the reported code and the run checks.
    TARGETS: ClassVar[frozenset[str]] = frozenset(ALL_TARGETS)
    VALID: ClassVar[Sequence[Valid]] = ()
    INVALID: ClassVar[Sequence[Invalid]] = ()

    def __init__(self, context: FileContext) -> None:
        super().__init__()
        self.context = context

    def get_visitors(self):
        """libcst finds the visit_/leave_ methods with inspect.getmembers on every instance;
        a rule class's methods never change, so they are looked up once per class."""
        names = type(self).__dict__.get("_visitor_names")
        if names is None:
            # libcst's own visit_/leave_ attributes (about 1,600) are all no-op stubs: only names
            # the rule's classes define can be methods. Going through dir() and every stub cost
            # about 0.04 s per process for the rules of a one-file run (measured).
            own = {name for klass in type(self).__mro__
                   if not klass.__module__.startswith("libcst")
                   for name in vars(klass) if name.startswith(("visit_", "leave_"))}
            names = tuple(name for name in sorted(own)
                          if not getattr(getattr(type(self), name), "_is_no_op", False))
            type(self)._visitor_names = names
        return {name: getattr(self, name) for name in names}

    def report(self, node: cst.CSTNode, message: str, fix: FixSpec | None = None, *,
               severity: Severity | None = None, targets: Sequence[str] | None = None) -> None:
        """Report `node`. `severity` overrides the rule's (a finding whose consequence is
        milder); `targets` narrows the capture targets the finding concerns."""
        function = self.context.function
        if self.context.only_reached and not (
                function and (function.reached_from or function.scripted_from)):
            return
        if targets is None:
            targets = self._targets_here(function)
        if function is not None:
            # The path of the capture the finding concerns: script may compile the helper
            # from another forward than the one that traces it.
            paths = (function.scripted_from, function.reached_from) \
                if tuple(targets) == (SCRIPT,) else (function.reached_from, function.scripted_from)
            label = next((path for path in paths if path), None)
            if label:
                message = f"{message} (reached from {label})"
        self.context.add_report(self.CODE, self.NAME, severity or self.SEVERITY, node, message,
                                fix, tuple(targets))

    def _targets_here(self, function) -> tuple[str, ...]:
        """The checked targets whose capture runs the node being visited: the fp16 clamp
        under `if x.dtype == torch.float16` is compiled by script but never traced."""
        chosen = canonical(self.TARGETS & set(self.context.targets))
        if function is not None:
            running = tuple(target for target in chosen
                            if capture_function(self.context, target) is not None)
            if running:
                return running
        return canonical(self.TARGETS & set(self.context.captures(function))) or chosen

    @classmethod
    def documentation(cls) -> str:
        return textwrap.dedent(inspect.getdoc(cls) or "").strip()
