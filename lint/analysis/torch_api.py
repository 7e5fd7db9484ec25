"""Facts about the PyTorch API that the value analysis needs: which methods give sizes, Python
data or tuples, which torch functions are not tensor math, which names only tensors have."""

from __future__ import annotations

SIZE_METHODS = {"size", "dim", "numel", "ndimension", "nelement"}
SIZE_ATTRIBUTES = {"shape", "ndim"}
# The rank of a tensor is fixed for a traced graph (every op in it is rank-specific), so
# branching or looping on it is not a shape hazard; `x.dim()` is a plain int under trace.
RANK_METHODS = {"dim", "ndimension"}
RANK_ATTRIBUTES = {"ndim"}
# Builtins whose result is still a traced size when an argument is one. `int()`, `float()`
# and `round()` are not: they turn the size into a Python number (that conversion is the
# hazard TR102 reports once, not again on everything computed from the number).
SIZE_PRESERVING_BUILTINS = {"min", "max", "abs", "sum"}
# Tensor methods that return Python data (numbers, bools, lists, devices), not tensors.
TENSOR_TO_PYTHON_METHODS = {"item", "tolist", "numpy"} | SIZE_METHODS | {
    "is_contiguous", "is_floating_point", "is_complex", "is_nonzero", "data_ptr", "element_size",
    "get_device", "stride", "storage_offset", "equal", "allclose", "is_set_to", "is_same_size",
    "untyped_storage", "storage", "has_names", "is_pinned", "is_shared", "dim_order",
    "is_inference", "is_signed", "is_conj", "is_neg", "__len__"}
# torch functions whose result is Python data (or a dtype/device/info object), not a tensor.
NON_TENSOR_TORCH_FUNCTIONS = {
    "torch.is_tensor", "torch.numel", "torch.is_floating_point", "torch.is_complex",
    "torch.is_nonzero", "torch.equal", "torch.allclose", "torch.is_grad_enabled",
    "torch.is_inference_mode_enabled", "torch.get_default_dtype", "torch.finfo", "torch.iinfo",
    "torch.device", "torch.dtype", "torch.Size", "torch.result_type", "torch.promote_types",
    "torch.can_cast", "torch.broadcast_shapes", "torch.is_autocast_enabled",
    "torch.get_autocast_dtype", "torch.get_autocast_gpu_dtype", "torch.typename",
    "torch.is_storage", "torch.get_device", "torch.is_same_size", "torch.manual_seed",
    "torch.initial_seed", "torch.seed", "torch.set_grad_enabled", "torch.no_grad",
    "torch.enable_grad", "torch.inference_mode", "torch.autocast", "torch.get_num_threads",
    "torch.are_deterministic_algorithms_enabled", "torch.is_deterministic_algorithms_warn_only_enabled",
}
# Namespaces that hold runtime queries and tooling, not tensor math.
NON_TENSOR_TORCH_NAMESPACES = (
    "torch.jit.", "torch.cuda.", "torch.backends.", "torch.distributed.", "torch.compiler.",
    "torch._dynamo.", "torch.fx.", "torch.onnx.", "torch.utils.", "torch.testing.", "torch.mps.",
    "torch.xpu.", "torch.npu.", "torch.library.", "torch.overrides.", "torch._C.", "torch.hub.",
    "torch.profiler.", "torch.autograd.profiler.", "torch.export.", "torch.accelerator.",
    "torch.version.", "torch._utils.", "torch.cpu.", "torch.amp.", "torch.mtia.",
)
# Tensor method names that dicts, lists and strings have too.
CONTAINER_METHODS = {"values", "items", "keys", "index", "split", "sort", "get", "copy", "count"}
# Of those, the ones a dense tensor does not have (`Tensor.values()` is for sparse tensors): a
# call of one is a dict's, whatever the receiver was taken for.
DICT_METHODS = {"values", "items", "keys", "get"}
# Tensor methods and torch functions that return tuples of tensors.
SEQUENCE_METHODS = {"split", "chunk", "unbind", "tensor_split", "hsplit", "vsplit", "dsplit",
                    "topk", "sort", "aminmax", "unique_consecutive", "frexp", "svd", "qr",
                    "slogdet", "kthvalue", "mode", "median", "cummax", "cummin"}
SEQUENCE_FUNCTIONS = SEQUENCE_METHODS | {"meshgrid", "broadcast_tensors", "std_mean",
                                         "var_mean", "atleast_1d", "atleast_2d", "atleast_3d",
                                         "multi_head_attention_forward", "eig", "eigh", "lu",
                                         "lu_factor", "lstsq", "histogram", "geqrf",
                                         "triangular_solve", "inv_ex", "cholesky_ex",
                                         "solve_ex", "ldl_factor"}
# torch functions whose arguments are sizes and fill values, not tensors.
TORCH_FACTORIES = {"zeros", "ones", "empty", "full", "arange", "range", "linspace", "logspace",
                   "eye", "rand", "randn", "randint", "randperm", "tensor", "as_tensor",
                   "from_numpy", "empty_strided", "tril_indices", "triu_indices", "Generator",
                   "manual_seed", "normal", "scalar_tensor"}

# Methods that reshape or move a tensor without mixing in anything else.
VIEW_METHODS = {"unsqueeze", "squeeze", "transpose", "permute", "reshape", "view", "flatten",
                "contiguous", "float", "half", "to", "detach", "t", "clone", "type_as"}

# Attributes and methods that only tensors have (not lists, strings, dicts or modules): a
# parameter used with one of them is a tensor.
TENSOR_EVIDENCE = {
    "shape", "size", "dtype", "device", "dim", "ndim", "view", "reshape", "to", "unsqueeze",
    "squeeze", "transpose", "permute", "expand", "expand_as", "contiguous", "float", "long",
    "bool", "half", "masked_fill", "masked_fill_", "sum", "mean", "max", "min", "argmax",
    "argmin", "softmax", "matmul", "type_as", "new_zeros", "new_ones", "new_full", "new_empty",
    "flatten", "unbind", "chunk", "repeat", "repeat_interleave", "clone", "detach", "numel",
    "item", "tolist", "cumsum", "gather", "scatter", "index_select", "eq", "ne", "gt", "lt",
    "ge", "le", "any", "all", "abs", "exp", "log", "sqrt", "pow", "clamp", "narrow", "roll",
    "flip", "T", "mT", "is_floating_point", "requires_grad", "cpu", "cuda", "numpy", "norm",
    "masked_select", "nonzero", "unfold", "view_as", "reshape_as", "triu", "tril", "square",
}
