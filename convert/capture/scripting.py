"""Compiling with torch.jit.script (and freezing) without leaving the process in a bad state.

A failed `torch.jit.script` leaves the half-built type of each module class in torch's concrete
type store; compiling the same class again in this process then fails with "Can't redefine method:
forward on class ..." instead of the real error. audit, auto mode and the tests all script more
than once per process, so every attempt restores the store to what it held before.

Freezing (`torch.jit.freeze`) inlines submodules and turns attributes into constants. coremltools
needs that for scripted loops that read `self.<attribute>` (9.0 fails converting `token !=
self.end_token` inside a loop with "'str' object has no attribute 'dtype'" unless frozen), and it
does not hurt traced submodules. `torch.jit.optimize_for_inference` is never used: its
`to_mkldnn` ops have no Core ML converter.
"""

from __future__ import annotations

from typing import Any

from torchready.convert.capture.recording import recording_warnings


def script(module: Any) -> tuple[Any, BaseException | None]:
    """(ScriptModule, None) or (None, the compiler's exception)."""
    import torch
    from torch.jit import _recursive

    store = _recursive.concrete_type_store
    saved_types = {key: list(value) for key, value in store.type_store.items()}
    saved_compiled = set(store.methods_compiled)
    with recording_warnings():
        try:
            return torch.jit.script(module), None
        except Exception as error:
            store.type_store.clear()
            store.type_store.update(saved_types)
            store.methods_compiled.clear()
            store.methods_compiled.update(saved_compiled)
            return None, error


def freeze(scripted: Any) -> tuple[Any, str | None]:
    """(frozen module, None), or (the unfrozen module, why freezing failed)."""
    import torch

    with recording_warnings():
        try:
            return torch.jit.freeze(scripted.eval()), None
        except Exception as error:
            first = (str(error).strip().splitlines() or [""])[0]
            return scripted, f"torch.jit.freeze failed ({type(error).__name__}: {first}); the " \
                             "module is converted unfrozen"
