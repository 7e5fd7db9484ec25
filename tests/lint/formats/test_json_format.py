"""`--format json`'s own encoder against the json module it stands in for."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from torchready.lint.formats.json_format import indented

SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
           | st.text())
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.tuples(children, children)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(VALUES)
def test_indented_is_the_json_modules_text(value):
    assert indented(value) == json.dumps(value, indent=2, ensure_ascii=False)


def test_indented_lays_out_subclasses_at_their_depth():
    from enum import IntEnum

    class Level(IntEnum):
        HIGH = 3

    value = {"a": [{"level": Level.HIGH, "name": "ü\n\"x\""}], "b": {}}
    assert indented(value) == json.dumps(value, indent=2, ensure_ascii=False)
