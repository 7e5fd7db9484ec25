"""Wall time of the MIL reference runtime next to eager PyTorch, on the same inputs.

    python benchmarks/runtime_speed.py [--repeat 20] [--threads 1] [--image-size 224]

For a ResNet-18-sized network (BasicBlock [2, 2, 2, 2], built here: torchvision is not a
dependency) and a tiny GPT-2 (transformers GPT2LMHeadModel from a small GPT2Config, logits
only), each converted to an fp32 and an fp16 ML program, prints the median time per inference
of `ReferenceProgram.run` and of the eager model, and their ratio (target: <= 3x for fp32).
Both sides run with the same torch thread count (default 1: on a shared 2-core machine
OpenMP's 2-thread barriers make tiny ops 1000x slower for both, which says nothing).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _basic_block(torch, in_channels, out_channels, stride):
    nn = torch.nn

    class BasicBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(out_channels)
            self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(out_channels)
            self.down = None
            if stride != 1 or in_channels != out_channels:
                self.down = nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
                )

        def forward(self, x):
            identity = x if self.down is None else self.down(x)
            out = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(out)) + identity)

    return BasicBlock()


def resnet18(torch, num_classes=1000):
    nn = torch.nn
    layers, channels = [], 64
    for out_channels, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [
            _basic_block(torch, channels, out_channels, stride),
            _basic_block(torch, out_channels, out_channels, 1),
        ]
        channels = out_channels
    model = nn.Sequential(
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
        *layers,
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(512, num_classes),
    )
    # Non-trivial batch-norm statistics, so the folded weights are not just the init values.
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def tiny_gpt2(torch):
    import transformers

    # torchscript=True makes the model return tuples (and keeps its graph traceable).
    config = transformers.GPT2Config(
        n_layer=2, n_embd=64, n_head=2, vocab_size=1000, n_positions=128, torchscript=True
    )

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = transformers.GPT2LMHeadModel(config)

        def forward(self, tokens):
            return self.model(tokens)[0]

    return Logits().eval()


def _median_ms(first, second, repeat: int) -> tuple[float, float]:
    """Median wall time of two callables, measured alternately so both see the same machine load."""
    for fn in (first, second, first, second):  # warm-up: allocator, lazy init
        fn()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for fn, bucket in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return statistics.median(times[0]) * 1000, statistics.median(times[1]) * 1000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args(argv)

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    import coremltools as ct
    import numpy as np
    import torch

    from torchready.convert.milrt import load_program

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cases = [
        ("resnet18", resnet18(torch), torch.rand(1, 3, args.image_size, args.image_size), np.float32),
        ("gpt2-tiny", tiny_gpt2(torch), torch.randint(0, 1000, (1, args.tokens)), np.int32),
    ]
    print(
        f"torch {torch.__version__}, coremltools {ct.__version__}, threads={args.threads}, "
        f"repeat={args.repeat}"
    )
    header = ("model", "program", "runtime ms", "eager ms", "ratio", "max|diff|", "ops")
    print("{:<10} {:<8} {:>11} {:>9} {:>6} {:>10} {:>5}".format(*header))
    for name, model, example, dtype in cases:
        traced = torch.jit.trace(model, example)
        with torch.inference_mode():
            expected = model(example).numpy()

        def eager(model=model, example=example):
            with torch.inference_mode():
                model(example)

        for precision in ("fp32", "fp16"):
            mlmodel = ct.convert(
                traced,
                inputs=[ct.TensorType(name="x", shape=example.shape, dtype=dtype)],
                convert_to="mlprogram",
                compute_precision=ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16,
                skip_model_load=True,
            )
            program = load_program(mlmodel)
            feeds = {"x": example.numpy().astype(dtype)}
            runtime_ms, eager_ms = _median_ms(
                lambda program=program, feeds=feeds: program.run(feeds), eager, args.repeat
            )
            got = program.run(feeds).outputs[program.output_names[0]].astype(np.float32)
            ops = len(program._plan.steps)
            print(
                f"{name:<10} {precision:<8} {runtime_ms:>11.2f} {eager_ms:>9.2f} "
                f"{runtime_ms / eager_ms:>6.2f}"
                f" {float(np.abs(got - expected).max()):>10.2e} {ops:>5}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
