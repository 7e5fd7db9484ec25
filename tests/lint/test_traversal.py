"""The engine's read-only traversal makes exactly the calls libcst's `visit_batched` makes: the
same events, on the same nodes, in the same order (real parses of the fixtures, the tests and
transformers' models; no mocks)."""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import libcst as cst
import pytest
from libcst._nodes.base import CSTNode

from helpers import ROOT, real_sources
from torchready.lint.analysis import traversal
from torchready.lint.rules import all_rules


def _subclasses(base: type) -> set[type]:
    found = set()
    for sub in base.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


NODE_CLASSES = sorted((kind for kind in _subclasses(CSTNode) if not inspect.isabstract(kind)),
                      key=lambda kind: kind.__name__)
VISITS = {"visit_required", "visit_optional", "visit_sentinel", "visit_sequence",
          "visit_body_sequence", "visit_iterable", "visit_body_iterable"}


def sources() -> list[Path]:
    # Every node class's order is checked on its own above; these check whole traversals.
    return real_sources(models=10)


def _source_order(kind: type) -> list[str]:
    """The fields `_visit_and_replace_children` visits, read from its source: the second
    argument of each visit_* call, in source order."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(kind._visit_and_replace_children)))
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Name) and node.func.id in VISITS]
    calls.sort(key=lambda call: (call.lineno, call.col_offset))
    return list(dict.fromkeys(call.args[1].value for call in calls))


@pytest.mark.parametrize("kind", NODE_CLASSES, ids=lambda kind: kind.__name__)
def test_child_fields_are_the_fields_libcst_visits_in_its_order(kind):
    assert traversal.child_fields(kind) == tuple(_source_order(kind))


def _recorder_class(attributes: bool = False) -> type:
    """A batchable visitor with a visit_/leave_ method for every node class (and with
    `attributes`, visit_Call_func/leave_Call_func), each recording (event, id(node))."""
    def method(event: str):
        def record(self, node):
            self.events.append((event, id(node)))
            return False  # ignored by batched visits: children are visited anyway
        record.__name__ = event  # libcst's get_visitors finds methods by their __name__
        return record

    body = {}
    for kind in NODE_CLASSES:
        body[f"visit_{kind.__name__}"] = method(f"visit_{kind.__name__}")
        body[f"leave_{kind.__name__}"] = method(f"leave_{kind.__name__}")
    if attributes:
        body["visit_Call_func"] = method("visit_Call_func")
        body["leave_Call_func"] = method("leave_Call_func")
    return type("Recorder", (cst.BatchableCSTVisitor,), body)


RECORDER = _recorder_class()
ATTRIBUTE_RECORDER = _recorder_class(attributes=True)


def _events(visit, module: cst.Module, recorder: type) -> list:
    events: list = []
    visitors = [recorder(), recorder()]  # two visitors: their methods run in visitor order
    for visitor in visitors:
        visitor.events = events
    visit(module, visitors,
          before_visit=lambda node: events.append(("before", id(node))),
          after_leave=lambda node: events.append(("after", id(node))))
    return events


@pytest.mark.parametrize("path", sources(), ids=lambda path: str(path.relative_to(path.parents[1])))
def test_traversal_matches_libcst_visit_batched(path):
    module = cst.parse_module(path.read_text(encoding="utf-8"))
    expected = _events(cst.visit_batched, module, RECORDER)
    # before, two visit_ methods, two leave_ methods, after: six events per node.
    assert len(expected) == 6 * len([event for event in expected if event[0] == "before"])
    assert _events(traversal.visit_batched, module, RECORDER) == expected

    # libcst's plain visitor protocol agrees on the nodes and their order.
    plain: list = []

    class Plain(cst.CSTVisitor):
        def on_visit(self, node):
            plain.append(("before", id(node)))
            return True

        def on_leave(self, original_node):
            plain.append(("after", id(original_node)))

    module.visit(Plain())
    assert [event for event in expected if event[0] in ("before", "after")] == plain


class _Reading(cst.CSTVisitor):
    """A read-only visitor as the analyses write them: it records every call and skips the
    children of lambdas and of private functions (visit_ returning False)."""

    def __init__(self) -> None:
        self.events: list = []

    def on_visit(self, node):
        self.events.append(("visit", id(node)))
        return super().on_visit(node)

    def on_leave(self, original_node):
        self.events.append(("leave", id(original_node)))
        super().on_leave(original_node)

    def visit_Lambda(self, node):
        return False

    def visit_FunctionDef(self, node):
        return not node.name.value.startswith("_")


@pytest.mark.parametrize("path", sources(), ids=lambda path: str(path.relative_to(path.parents[1])))
def test_visit_makes_the_calls_of_libcst_visit(path):
    module = cst.parse_module(path.read_text(encoding="utf-8"))
    expected, walked = _Reading(), _Reading()
    module.visit(expected)
    traversal.visit(module, walked)
    assert walked.events == expected.events
    assert len({event[1] for event in expected.events}) > 10


def test_attribute_methods_run_through_libcst():
    """A visit_<Node>_<field> method (no rule has one) sends the run through libcst."""
    module = cst.parse_module((ROOT / "lint" / "engine.py").read_text(encoding="utf-8"))
    expected = _events(cst.visit_batched, module, ATTRIBUTE_RECORDER)
    assert ("visit_Call_func",) in {event[:1] for event in expected}
    assert _events(traversal.visit_batched, module, ATTRIBUTE_RECORDER) == expected


@pytest.mark.parametrize("rule", all_rules(), ids=lambda rule: rule.CODE)
def test_rule_visitor_methods_are_the_ones_libcst_finds(rule):
    """Rule.get_visitors looks only below libcst's classes; libcst's own lookup agrees."""
    visitor = rule(None)
    assert visitor.get_visitors() == cst.BatchableCSTVisitor.get_visitors(visitor)
