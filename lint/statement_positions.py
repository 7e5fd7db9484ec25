"""Positions of reported nodes without generating the code of the whole module.

libcst computes positions by generating the code of the whole module again, which costs about
twice the parse: on a 900-line model file, more than the rest of the analysis. Python's parser
already knows the line of every statement. So the statements holding findings are generated
each on their own, as deep as the two trees can be matched (a module's statements, the bodies
of classes, functions, `if`, `for`, `while`, `with` and `try`), with the indentation of the
blocks around them, and shifted to their line in the file. A finding in a method generates that
method's statement, not its class.

Where the trees cannot be matched (they disagree on the number or kind of statements in a
block) the block is left out and its outer statement, or the whole module, serves instead: the
positions are always libcst's own, only computed on less code.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, MetadataWrapper, PositionProvider
from libcst.metadata.position_provider import PositionProvidingCodegenState

from torchready.lint.analysis.traversal import child_fields

# libcst statement -> the Python ast statements whose bodies correspond to its IndentedBlock
_BLOCKS: dict[type, tuple[type, ...]] = {
    cst.ClassDef: (ast.ClassDef,),
    cst.FunctionDef: (ast.FunctionDef, ast.AsyncFunctionDef),
    cst.If: (ast.If,),
    cst.For: (ast.For, ast.AsyncFor),
    cst.While: (ast.While,),
    cst.With: (ast.With, ast.AsyncWith),
    cst.Try: (ast.Try,),
}


@dataclass(frozen=True)
class _Spot:
    line: int  # of the statement in the file (Python's ast)
    column: int  # of its first token
    indents: tuple[str, ...]  # the indentation of the blocks around it
    outer: cst.CSTNode | None  # the matched statement around it


class StatementPositions:
    def __init__(self, module: cst.Module, python_ast: ast.Module | None) -> None:
        self._module = module
        self._spots: dict[int, _Spot] = {}
        if python_ast is not None:
            self._match(module.body, python_ast.body, (), None)
        self._generated: dict[int, tuple[dict, int]] = {}
        self._module_positions = None

    def innermost(self, ancestors: list[cst.CSTNode]) -> cst.CSTNode | None:
        """The innermost matched statement among a node's ancestors (what a report keeps)."""
        for node in reversed(ancestors):
            if id(node) in self._spots:
                return node
        return None

    def range_of(self, node: cst.CSTNode, anchor: cst.CSTNode | None = None) -> CodeRange:
        """libcst's position of `node`; `anchor`: a matched statement that may hold it."""
        statement = (self._enclosing(anchor, node) if anchor is not None else None) or anchor
        while statement is not None:
            found = self._within(statement, node)
            if found is not None:
                return found
            statement = self._spots[id(statement)].outer
        if id(node) in self._spots:
            found = self._within(node, node)
            if found is not None:
                return found
        if self._module_positions is None:
            self._module_positions = MetadataWrapper(
                self._module, unsafe_skip_copy=True).resolve(PositionProvider)
        return self._module_positions[node]

    def _enclosing(self, anchor: cst.CSTNode, node: cst.CSTNode) -> cst.CSTNode | None:
        """The innermost matched statement inside `anchor` (or `anchor`) that holds `node`: rules
        often report when they leave a function, about a statement inside it, and walking the
        function to find that statement costs less than generating all of its code."""
        stack = [(anchor, anchor)]
        while stack:
            current, statement = stack.pop()
            if id(current) in self._spots:
                statement = current
            if current is node:
                return statement
            for name in child_fields(type(current)):
                value = getattr(current, name)
                if type(value) is tuple or type(value) is list:
                    stack.extend((child, statement) for child in value)
                elif isinstance(value, cst.CSTNode):
                    stack.append((value, statement))
        return None

    def _within(self, statement: cst.CSTNode, node: cst.CSTNode) -> CodeRange | None:
        generated = self._generated.get(id(statement))
        if generated is None:
            generated = self._generated[id(statement)] = self._generate(statement)
        positions, shift = generated
        found = positions.get(node)
        if found is None:
            return None
        if not shift:
            return found
        return CodeRange(CodePosition(found.start.line + shift, found.start.column),
                         CodePosition(found.end.line + shift, found.end.column))

    def _generate(self, statement: cst.CSTNode) -> tuple[dict, int]:
        """Positions inside the statement alone, and the lines to add to them."""
        spot = self._spots[id(statement)]
        provider = PositionProvider()
        state = PositionProvidingCodegenState(
            default_indent=self._module.default_indent,
            default_newline=self._module.default_newline, provider=provider)
        state.indent_tokens.extend(spot.indents)
        statement._codegen(state)
        positions = provider._computed
        start = positions[statement].start
        if start.column != spot.column:  # the trees disagree after all: not this way
            return {}, 0
        return positions, spot.line - start.line

    def _match(self, statements, python_statements: list[ast.stmt], indents: tuple[str, ...],
               outer: cst.CSTNode | None) -> None:
        groups = []
        python = iter(python_statements)
        for statement in statements:
            count = len(statement.body) if type(statement) is cst.SimpleStatementLine else 1
            group = [next(python, None) for _ in range(count)]
            if None in group:
                return  # fewer Python statements: the trees disagree on this block
            expected = _BLOCKS.get(type(statement))
            if expected is not None and not isinstance(group[0], expected):
                return
            groups.append((statement, group[0]))
        if next(python, None) is not None:
            return
        for statement, python_statement in groups:
            # ast's columns count UTF-8 bytes, libcst's characters: equal for the indentation
            # a statement starts after
            self._spots[id(statement)] = _Spot(python_statement.lineno,
                                                python_statement.col_offset, indents, outer)
            block = getattr(statement, "body", None)
            if type(block) is cst.IndentedBlock and type(statement) in _BLOCKS:
                indent = block.indent if block.indent is not None else self._module.default_indent
                self._match(block.body, python_statement.body, (*indents, indent), statement)
