"""The converters torchready adds for coremltools 9's export frontend
(`torchready.convert.coreml.export_ops`): a model using all three converts in export mode and computes exactly what torch computes on the
MIL reference runtime, negative integers in the `&` included."""

import numpy as np
import torch

import export_models as em
from torchready import to_coreml
from torchready.convert.milrt import load_program


def test_alias_int_and_bool_and_where_with_a_scalar_convert_exactly(single_torch_thread):
    x = torch.rand(2, 5)
    mask = torch.tensor([[-3, -2, -1, 0, 1], [2, 3, 4, 5, 7]])
    result = to_coreml(em.NeedsExportOps(), (x, mask), mode="export", lint=False,
                       compute_precision="fp32")
    assert result.ok, (result.failed_stage, result.error)
    assert set(result.composite_ops_applied) == {"alias", "__and__", "where.ScalarOther"}
    assert not result.coverage.unsupported
    program = load_program(result.mlmodel)
    for sample_x in (x, torch.rand(2, 5), torch.full((2, 5), 0.6)):
        outputs = program.run({"x": sample_x.numpy(),
                               "mask": mask.numpy().astype(np.int32)}).outputs
        expected = em.NeedsExportOps()(sample_x, mask).numpy()
        np.testing.assert_allclose(outputs[result.output_names[0]], expected, atol=1e-6)
