"""The rule catalog is read from the rules' module names, without importing them: the names
must say the code and name each rule declares, and a warm run must not need libcst."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from torchready.lint.rules import all_rules, catalog, rule_by_code


def test_every_rule_module_is_named_after_its_rule():
    rules = all_rules()
    assert [(rule.CODE, rule.NAME) for rule in rules] == \
        [(entry.code, entry.name) for entry in catalog()]
    for rule, entry in zip(rules, catalog()):
        assert rule.__module__.rsplit(".", 1)[-1] == entry.module


def test_a_rule_is_found_by_code_or_name():
    assert rule_by_code("tr101").NAME == "non-tensor-output"
    assert rule_by_code("math-on-shape").CODE == "TR102"
    assert rule_by_code("TR999") is None


def test_a_warm_run_answers_from_the_cache_without_importing_libcst(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg/__init__.py").write_text("")
    (tmp_path / "pkg/model.py").write_text(textwrap.dedent("""
        import math
        from torch import nn


        class Net(nn.Module):
            def forward(self, x):
                return x / math.sqrt(x.size(-1))
    """))
    script = textwrap.dedent("""
        import sys
        from torchready.lint.api import lint_paths
        run = lint_paths(["pkg"], jobs=1)
        print([d.code for d in run.diagnostics], all(f.cached for f in run.files),
              "libcst" in sys.modules)
    """)

    def lint() -> str:
        return subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True,
                              capture_output=True, text=True).stdout.strip()

    assert lint() == "['TR102'] False True"  # cold: the file is parsed
    assert lint() == "['TR102'] True False"  # warm: nothing parsed, libcst never loaded
