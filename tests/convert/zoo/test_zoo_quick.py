"""The zoo's `--quick` subset, run for real: vanilla trace + ct.convert, by hand with the outputs
unwrapped, and torchready with parity, on one or two real architectures per family (see
`benchmarks/zoo_models.py`), plus the table and the summary line the README shows."""

import re

import pytest
import zoo
from zoo_models import MODELS

QUICK = [model for model in MODELS if model.quick]


@pytest.fixture(scope="module")
def rows():
    return zoo.run_zoo(QUICK)


def test_the_zoo_is_real_and_its_quick_subset_covers_every_family():
    assert len(MODELS) >= 30
    assert len({model.name for model in MODELS}) == len(MODELS)
    families = {model.family.split(" (")[0] for model in MODELS}
    assert {"encoder", "decoder", "encoder-decoder", "vision transformer", "convnet",
            "hybrid vision", "speech", "CLIP-style", "fixture"} <= families
    quick_families = {model.family.split(" (")[0] for model in QUICK}
    assert quick_families >= families - {"encoder-decoder"}


def test_torchready_converts_every_quick_model_with_parity(rows):
    problems = zoo.failures(rows)
    assert not problems, "\n".join(problems)
    for row in rows:
        assert row.parity.verdict in ("pass", "warn"), (row.name, row.parity)
        if row.parity.worst_psnr is not None:
            assert row.parity.worst_psnr >= zoo.PSNR_WARN_DB


def test_everything_vanilla_converts_torchready_converts_too(rows):
    for row in rows:
        assert not row.vanilla.ok or row.torchready.ok, row.name
        assert not row.unwrapped.ok or row.torchready.ok, row.name


def test_vanilla_meets_the_walls_a_user_meets(rows):
    by_name = {row.name: row for row in rows}
    # transformers models return a ModelOutput, which torch.jit.trace refuses.
    assert by_name["bert"].vanilla.stage == "trace"
    assert "dict" in by_name["bert"].vanilla.error
    # With the outputs unwrapped, coremltools 9.0 itself fails on NumPy 2.4: the vanilla path
    # runs coremltools' own converters even though torchready registered its fixes already.
    assert "only 0-dimensional arrays" in by_name["bert"].unwrapped.error
    assert "requires grad as a constant" in by_name["levit"].unwrapped.error


def test_torchready_says_which_fixes_it_applied(rows):
    details = {row.name: row.torchready.detail for row in rows}
    assert "scaled_dot_product_attention" in details["llama"]
    assert "inline_autograd_functions" in details["bloom"]
    assert "_internal_op_tensor_inplace_copy" in details["beit"]
    assert "upsample_bicubic2d" in details["dinov2"]
    # a flexible height: the decoder's resizes to its skips' sizes happen at runtime
    assert {"upsample_bilinear2d", "upsample_nearest2d"} <= set(
        details["fixture:fpn-segmentation-flexible"].split("+")[-1].split(","))


def test_the_markdown_table_and_the_summary_line(rows):
    text = zoo.markdown(rows)
    lines = text.splitlines()
    assert lines[0].startswith("| model | family | vanilla")
    table = [line for line in lines if line.startswith("| ") and not line.startswith("| model")]
    assert [line.split(" | ")[0][2:] for line in table] == [row.name for row in rows]
    summary = lines[-1].strip("`")
    match = re.fullmatch(r"vanilla=(\d+)/(\d+) torchready=(\d+)/(\d+) parity=(\d+)/(\d+) "
                         r"export=(\d+)/(\d+)", summary)
    assert match
    vanilla, total, converted, _, parity, _, exported, _ = map(int, match.groups())
    assert total == len(rows)
    assert vanilla == sum(row.vanilla.ok for row in rows)
    assert converted == sum(row.torchready.ok for row in rows)
    assert parity == sum(row.parity_ok for row in rows)
    assert exported == sum(row.export_ok for row in rows)
    assert lines[0].rstrip(" |").endswith("export (torch.export) | export s")


def test_the_command_prints_exactly_the_table(capsys):
    assert zoo.main(["--only", "fixture:attention-block", "--markdown"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.splitlines()[-1] == "`vanilla=0/1 torchready=1/1 parity=1/1 export=1/1`"
    assert printed.count("\n| fixture:attention-block |") == 1


def test_export_mode_converts_every_quick_model_with_parity(rows):
    """The torch.export column: every quick model converts through `--mode export` with parity,
    gpt2/llama/bloom/beit thanks to the converters torchready adds to coremltools' export
    frontend (`torchready.convert.coreml.export_ops`), which the path result names."""
    for row in rows:
        assert row.export_ok, (row.name, zoo.export_cell(row, 300))
    details = {row.name: row.export.detail for row in rows}
    assert "alias" in details["gpt2"] and "alias" in details["llama"]
    assert "where.ScalarOther" in details["bloom"]
    assert "select_scatter" in details["beit"]
