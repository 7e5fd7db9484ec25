"""Kernel modules, one per op family. Importing this package registers every kernel."""

from torchready.convert.milrt.kernels import (  # noqa: F401  (imported for their registrations)
    activation,
    control_flow,
    conv_pool,
    elementwise,
    gather_scatter,
    image,
    linear,
    misc,
    normalization,
    recurrent,
    reduction,
    shape,
    tensor_ops,
)
