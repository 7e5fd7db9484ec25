"""Project analysis on real packages written to disk: imports resolved across files, the call
graph from forwards into other files, what callers pass, and the project cache."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from torchready.lint.api import lint_paths
from torchready.lint.project.modules import absolute_name, module_name


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def findings(run, code: str | None = None) -> list[tuple[str, int, str]]:
    return [(Path(d.path).as_posix(), d.line, d.code) for d in run.diagnostics
            if code is None or d.code == code]


HELPERS = """
    import torch


    def pad_to_multiple(x, height):
        if height % 8 != 0:
            x = torch.nn.functional.pad(x, (0, 0, 0, 8 - height % 8))
        return x


    def normalise(x):
        return x / x.abs().max().item()
"""


@pytest.mark.parametrize("import_line, call", [
    ("from .utils import normalise, pad_to_multiple", "pad_to_multiple(normalise(x), x.size(2))"),
    ("from pkg.utils import normalise, pad_to_multiple",
     "pad_to_multiple(normalise(x), x.size(2))"),
    ("import pkg.utils as u", "u.pad_to_multiple(u.normalise(x), x.size(2))"),
    ("from . import utils", "utils.pad_to_multiple(utils.normalise(x), x.size(2))"),
    ("from pkg.utils import normalise as norm, pad_to_multiple as pad",
     "pad(norm(x), x.size(2))"),
])
def test_helpers_of_another_file_are_analysed_with_what_forward_passes(tmp_path, monkeypatch,
                                                                       import_line, call):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"pkg/__init__.py": "", "pkg/utils.py": HELPERS, "pkg/model.py": f"""
        import torch
        from torch import nn
        {import_line}


        class Net(nn.Module):
            def forward(self, x):
                return {call}
    """})
    run = lint_paths(["pkg"], cache=False)
    assert findings(run) == [("pkg/utils.py", 5, "TR107"), ("pkg/utils.py", 11, "TR103")]
    for diagnostic in run.diagnostics:
        assert diagnostic.message.endswith("(reached from Net.forward via pkg/model.py:8)")
        assert diagnostic.targets == ("trace", "export")
    # The same helper file alone, or with a caller that passes no traced size, is silent.
    assert findings(lint_paths(["pkg/utils.py"], cache=False)) == []
    model = tmp_path / "pkg/model.py"
    model.write_text(re.sub(r"(\w+\.)?norm(alise)?\(x\)", "x",
                            model.read_text().replace("x.size(2)", "16")))
    assert findings(lint_paths(["pkg"], cache=False)) == []


def test_submodules_bases_and_super_calls_across_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {
        "net/__init__.py": "from .layers import Block\n",
        "net/mixins.py": """
            class CropMixin:
                def crop(self, x, limit):
                    if x.size(1) > limit:
                        x = x[:, :limit]
                    return x
        """,
        "net/base.py": """
            import torch
            from torch import nn


            class Backbone(nn.Module):
                def forward(self, x):
                    return x * 2

                def head(self, x):
                    return x.tolist()
        """,
        "net/layers.py": """
            from torch import nn
            from .mixins import CropMixin


            class Block(nn.Module, CropMixin):
                def forward(self, x):
                    return self.crop(x, 8)
        """,
        "net/model.py": """
            from net import Block
            from net.base import Backbone


            class Encoder(Backbone):
                def __init__(self):
                    super().__init__()
                    self.block = Block()

                def forward(self, x):
                    y = super().forward(self.block(x))
                    return self.head(y)
        """,
    })
    run = lint_paths(["net"], cache=False)
    assert findings(run) == [("net/base.py", 10, "TR103"), ("net/mixins.py", 3, "TR107")]
    by_path = {Path(d.path).name: d for d in run.diagnostics}
    assert "reached from Block.forward via net/layers.py:7" in by_path["mixins.py"].message
    assert "reached from Encoder.forward via net/model.py:12" in by_path["base.py"].message


def test_what_an_inherited_method_of_another_file_returns_is_known(tmp_path, monkeypatch):
    """`self.pointers(x)` runs a method of a base in another file that returns a list in a
    tuple: testing that list is no test of tensor data (alone, the file would take the call
    for a submodule returning tensors)."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/base.py": """
            from torch import nn


            class Base(nn.Module):
                def pointers(self, x):
                    tokens = []
                    for i in range(3):
                        tokens.append(x * i)
                    return x.sum(), tokens, 3
        """,
        "pkg/derived.py": """
            import torch
            from .base import Base


            class Derived(Base):
                def forward(self, x):
                    total, tokens, count = self.pointers(x)
                    if tokens:
                        x = x + torch.stack(tokens).sum(0)
                    if total > 0:
                        x = -x
                    return x
        """,
    })
    # The tuple's first element is a tensor: testing it is reported, the list is not.
    assert findings(lint_paths(["pkg"], cache=False)) == [("pkg/derived.py", 10, "TR104")]


def test_a_class_is_a_module_through_a_base_class_of_another_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {
        "app/__init__.py": "",
        "app/core.py": "from torch import nn\n\n\nclass Component(nn.Module):\n    pass\n",
        "app/widgets.py": """
            from .core import Component


            class Scaler(Component):
                def forward(self, x):
                    return x * x.sum().item()
        """,
    })
    assert findings(lint_paths(["app"], cache=False)) == [("app/widgets.py", 6, "TR103")]
    # Alone, `Component` could be anything: the forward is not known to be traced.
    assert findings(lint_paths(["app/widgets.py"], cache=False)) == []


def test_weights_passed_from_another_file_are_not_input_sizes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {
        "m/__init__.py": "",
        "m/pos.py": """
            def resize_pos(pos, x):
                if pos.shape[1] != 16:
                    pos = pos[:, :16]
                return pos + x
        """,
        "m/vit.py": """
            from torch import nn
            from .pos import resize_pos


            class ViT(nn.Module):
                def forward(self, x):
                    return resize_pos(self.pos_embed, x)
        """,
    })
    assert findings(lint_paths(["m"], cache=False)) == []
    vit = tmp_path / "m/vit.py"
    vit.write_text(vit.read_text().replace("resize_pos(self.pos_embed, x)", "resize_pos(x, x)"))
    assert findings(lint_paths(["m"], cache=False)) == [("m/pos.py", 2, "TR107")]


def test_namespace_layout_without_init_files_resolves_by_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {
        "src/models/helpers.py": "def count(x):\n    return len(x)\n",
        "src/models/net.py": """
            from torch import nn
            from models.helpers import count


            class Net(nn.Module):
                def forward(self, x):
                    return x / count(x)
        """,
    })
    assert findings(lint_paths(["src"], cache=False)) == [("src/models/helpers.py", 2, "TR103")]


def test_script_target_wakes_script_rules_on_every_forward(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {
        "lib/__init__.py": "",
        "lib/layer.py": """
            from torch import nn


            class Layer(nn.Module):
                def forward(self, x, **kwargs):
                    return x * 2
        """,
    })
    assert findings(lint_paths(["lib"], cache=False)) == []
    scripted = lint_paths(["lib"], cache=False, targets=["script"])
    assert findings(scripted) == [("lib/layer.py", 5, "TR203")]
    assert scripted.diagnostics[0].targets == ("script",)
    # A conversion script in the project that scripts the model says the same.
    write(tmp_path, {"convert.py": """
        import torch
        from lib.layer import Layer

        model = Layer().eval()
        scripted = torch.jit.script(model)
    """})
    inferred = lint_paths(["lib", "convert.py"], cache=False)
    assert findings(inferred) == [("lib/layer.py", 5, "TR203")]


def test_follow_imports_reads_installed_modules_without_running_or_writing_them(tmp_path,
                                                                                monkeypatch):
    installed = write(tmp_path / "site", {
        "extpkg/__init__.py": "raise RuntimeError('importing extpkg runs code')\n",
        "extpkg/ops.py": """
            from torch import nn
            from .util import probe


            def shrink(x):
                if x.size(-1) > 4:
                    x = x[..., :4]
                return x


            def unrelated(x):
                return x.item()


            def unwrap(model: nn.Module):  # traced code of its own file, not of the project
                return probe(model)
        """,
        "extpkg/util.py": """
            def probe(x):
                return x.sum().item()
        """,
    })
    project = write(tmp_path / "project", {"model.py": """
        from torch import nn
        from extpkg.ops import shrink


        class Net(nn.Module):
            def forward(self, x):
                return shrink(x)
    """})
    monkeypatch.syspath_prepend(str(installed))
    monkeypatch.chdir(project)
    before = (installed / "extpkg/ops.py").read_text()
    assert findings(lint_paths(["model.py"], cache=False)) == []
    followed = lint_paths(["model.py"], cache=False, follow_imports=True, fix=True,
                          unsafe_fixes=True)
    ops = str(installed / "extpkg" / "ops.py")
    # Not `unrelated`, nor what `unwrap` calls: an installed module is never a root.
    assert findings(followed) == [(Path(ops).as_posix(), 6, "TR107")]
    assert "reached from Net.forward via model.py:7" in followed.diagnostics[0].message
    assert "extpkg" not in sys.modules
    assert (installed / "extpkg/ops.py").read_text() == before


def test_cache_relinks_only_when_a_summary_changes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"pkg/__init__.py": "", "pkg/utils.py": HELPERS, "pkg/model.py": """
        from torch import nn
        from .utils import pad_to_multiple


        class Net(nn.Module):
            def forward(self, x):
                return pad_to_multiple(x, x.size(2))
    """})
    cold = lint_paths(["pkg"], jobs=1)
    warm = lint_paths(["pkg"], jobs=1)
    assert warm.diagnostics == cold.diagnostics == [d for d in cold.diagnostics]
    assert findings(cold) == [("pkg/utils.py", 5, "TR107")]
    assert all(file.cached for file in warm.files)
    # A body edit in the helper file: only that file is analysed again.
    utils = tmp_path / "pkg/utils.py"
    utils.write_text(utils.read_text().replace("8 - height % 8", "(8 - height % 8) % 8"))
    edited = {file.path.name: file for file in lint_paths(["pkg"], jobs=1).files}
    assert not edited["utils.py"].cached and edited["model.py"].cached
    assert [d.line for d in edited["utils.py"].diagnostics] == [5]
    # The caller stops passing a size: the unchanged helper file's finding goes away.
    model = tmp_path / "pkg/model.py"
    model.write_text(model.read_text().replace("x.size(2)", "32"))
    relinked = {file.path.name: file for file in lint_paths(["pkg"], jobs=1).files}
    assert relinked["utils.py"].diagnostics == [] and not relinked["utils.py"].cached


def test_module_names_and_relative_imports(tmp_path, monkeypatch):
    write(tmp_path, {"a/__init__.py": "", "a/b/__init__.py": "", "a/b/c.py": "", "top.py": "",
                     "a/b/data.tar.py": ""})
    assert module_name(tmp_path / "a/b/c.py") == ("a.b.c", False)
    assert module_name(tmp_path / "a/b/__init__.py") == ("a.b", True)
    assert module_name(tmp_path / "a/__init__.py") == ("a", True)
    assert module_name(tmp_path / "top.py") == ("top", False)
    assert module_name(tmp_path / "a/b/data.tar.py") == ("a.b.data.tar", False)
    monkeypatch.chdir(tmp_path / "a")  # relative paths, also through ..
    assert module_name(Path("b/c.py")) == ("a.b.c", False)
    assert module_name(Path("../a/b/c.py")) == ("a.b.c", False)
    assert module_name(Path("__init__.py")) == ("a", True)
    assert absolute_name("..x.f", "a.b.c", False) == "a.x.f"
    assert absolute_name(".x", "a.b", True) == "a.b.x"
    assert absolute_name(".", "a.b.c", False) == "a.b"
    assert absolute_name("torch.nn", "a.b.c", False) == "torch.nn"


def test_a_lost_summary_is_made_again(tmp_path, monkeypatch):
    """The index names a summary the cache no longer holds (a cleaned folder): the file is
    analysed again instead of linking an empty summary."""
    import shutil

    from torchready.lint.cache import CACHE_DIRECTORY

    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"pkg/__init__.py": "", "pkg/utils.py": HELPERS, "pkg/model.py": """
        from torch import nn
        from .utils import pad_to_multiple


        class Net(nn.Module):
            def forward(self, x):
                return pad_to_multiple(x, x.size(2))
    """})
    first = findings(lint_paths(["pkg"], jobs=1))
    for folder in (tmp_path / CACHE_DIRECTORY).glob("*/summaries"):
        shutil.rmtree(folder)
    model = tmp_path / "pkg/model.py"
    model.write_text(model.read_text() + "\n\nVALUE = 1\n")  # a new summary: a new link
    assert findings(lint_paths(["pkg"], jobs=1)) == first == [("pkg/utils.py", 5, "TR107")]


def test_a_finding_says_which_forward_reaches_it_for_its_capture(tmp_path, monkeypatch):
    """`helper` is traced from A.forward (the first forward) and compiled by script from B,
    which a conversion script scripts: each finding names the path of its own capture."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/utils.py": """
            def helper(x, *rest):
                return x / x.sum().item()
        """,
        "pkg/a.py": """
            from torch import nn
            from .utils import helper


            class A(nn.Module):
                def forward(self, x):
                    return helper(x)
        """,
        "pkg/b.py": """
            from torch import nn
            from .utils import helper


            class B(nn.Module):
                def forward(self, x):
                    return helper(x) * 2
        """,
        "convert.py": """
            import torch
            from pkg.b import B

            scripted = torch.jit.script(B())
        """,
    })
    run = lint_paths(["pkg", "convert.py"], cache=False, targets=["trace"])
    by_code = {d.code: d for d in run.diagnostics}
    assert sorted(by_code) == ["TR103", "TR203"]
    assert by_code["TR103"].message.endswith("(reached from A.forward via pkg/a.py:7)")
    assert by_code["TR103"].targets == ("trace",)
    assert by_code["TR203"].message.endswith("(reached from B.forward via pkg/b.py:7)")
    assert by_code["TR203"].targets == ("script",)


def _count_links(monkeypatch) -> list[int]:
    """How many times the runner links (a spy on our own step; nothing external is faked)."""
    from torchready.lint.project import runner

    calls = []
    real = runner._link
    monkeypatch.setattr(runner, "_link", lambda *args: calls.append(1) or real(*args))
    return calls


def test_an_edit_that_only_moves_lines_links_again_only_when_a_label_quotes_them(tmp_path,
                                                                                monkeypatch):
    """Lines moved in the helper file: no label quotes them, no link. Lines moved in the caller
    before the call: the helper file's message quotes that line, so the project links again and
    the message shows the new line. Each warm result equals a run without the cache."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"pkg/__init__.py": "", "pkg/utils.py": HELPERS, "pkg/model.py": """
        from torch import nn
        from .utils import pad_to_multiple


        class Net(nn.Module):
            def forward(self, x):
                return pad_to_multiple(x, x.size(2))
    """})
    lint_paths(["pkg"], jobs=1)
    links = _count_links(monkeypatch)
    utils = tmp_path / "pkg/utils.py"
    utils.write_text(utils.read_text().replace("    return x\n", "    x = x + 0\n    return x\n"))
    warm = lint_paths(["pkg"], jobs=1)
    assert links == []
    assert warm.diagnostics == lint_paths(["pkg"], cache=False).diagnostics
    links.clear()
    model = tmp_path / "pkg/model.py"
    model.write_text(model.read_text().replace("    def forward", "    scale = 1\n\n    def forward"))
    warm = lint_paths(["pkg"], jobs=1)
    assert links == [1]
    assert warm.diagnostics == lint_paths(["pkg"], cache=False).diagnostics
    assert [d.message.rsplit(" ", 1)[-1] for d in warm.diagnostics] == ["pkg/model.py:9)"]  # was :7


@pytest.mark.parametrize("enabled", [True, False])
def test_the_link_leaves_the_cyclic_collector_as_it_found_it(tmp_path, monkeypatch, enabled):
    """The link pauses Python's cyclic garbage collector for speed; a library caller's setting
    must survive it, also when the link fails."""
    import gc

    from torchready.lint.project import link

    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"pkg/__init__.py": "", "pkg/utils.py": HELPERS, "pkg/model.py": """
        import torch
        from .utils import pad_to_multiple


        class Net(torch.nn.Module):
            def forward(self, x):
                return pad_to_multiple(x, x.size(2))
    """})
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        run = lint_paths(["pkg"], cache=False)
        assert ("pkg/utils.py", 5, "TR107") in findings(run)  # the link ran
        assert gc.isenabled() is enabled

        def broken(self):
            assert not gc.isenabled()  # paused while it runs
            raise RuntimeError("a bug in the link")

        monkeypatch.setattr(link._Linker, "run", broken)
        with pytest.raises(RuntimeError):
            link.link([], ())
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
