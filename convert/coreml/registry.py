"""torchready's converters in coremltools' torch op registry, only while a torchready call runs.

coremltools looks every torch op up in one process-wide dict
(`_TORCH_OPS_REGISTRY.name_to_func_mapping`, shared by its TorchScript and torch.export
frontends). An `Overlay` puts a set of converters there for the duration of `active()` and, when
the last call using it leaves (any thread, also on an exception), restores every entry it
changed: a name it added is removed again, a converter it replaced is put back. An entry that
somebody replaced meanwhile (a user's `register_torch_op(..., override=True)`) is theirs and is
left alone.

Concurrency contract. The registry holds a dispatcher per name, not torchready's lowering
itself. The dispatcher runs torchready's lowering in threads that are inside a torchready call;
in every other thread it runs what the entry held before, or, for a name torchready added,
raises coremltools' own "not implemented" error as if the entry were absent. A `ct.convert` of
the user's own in another thread therefore converts with the converters the user had, even while
a torchready conversion runs. What such a concurrent call can still notice: membership tests
(`kind in registry`, the export frontend's up-front check) see the added names, so a model using
one fails at the op instead of before converting. Entering and leaving are serialised by the
overlay's lock (`process_state.SharedPatch`); hold `overlay.lock` to change the registry while
calls may be running. (coremltools' MIL builder keeps one block stack per process, so two
conversions running at the same moment are unsafe whatever the registry holds: the pipeline runs
torchready's own calls one at a time.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from torchready.convert.process_state import SharedPatch

Lowering = Callable[[Any, Any], Any]
# previous(name) -> the converter the registry held for `name` before the overlay (None: none)
Previous = Callable[[str], "Lowering | None"]


@dataclass(frozen=True)
class Converter:
    """Converters for some registry names, built when the overlay is applied."""

    names: tuple[str, ...]
    # build(previous) -> {name: lowering}; names left out (or {}) are not touched, e.g. an op
    # coremltools already converts itself.
    build: Callable[[Previous], "dict[str, Lowering]"]
    owner: str  # reported as the dispatcher's __module__ (coverage tells ours from others)


def registry() -> Any:
    from torchready.convert.coreml.quiet import import_coremltools

    import_coremltools()
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY

    return _TORCH_OPS_REGISTRY


def lookup_name(kind: str) -> str:
    """The registry key coremltools looks `kind` up under (`TorchOpsRegistry.get_func`)."""
    from coremltools.converters.mil.frontend.torch.utils import (
        sanitize_op_kind,
        unify_inplace_and_functional,
    )

    return unify_inplace_and_functional(sanitize_op_kind(kind))


def not_implemented(node: Any) -> NotImplementedError:
    """coremltools' own error for a kind without a converter (frontend/torch/ops.py)."""
    return NotImplementedError(f"PyTorch convert function for op '{node.kind}' not implemented.")


class Overlay:
    def __init__(self, converters: Callable[[], Iterable[Converter]]) -> None:
        self._converters = converters
        self._patch = SharedPatch(self._apply, self._restore)
        self._previous: dict[str, Lowering | None] = {}
        self._installed: dict[str, Lowering] = {}  # name -> our dispatcher, while applied
        self._lowerings: dict[str, tuple[Lowering, str]] = {}  # name -> (lowering, owner)
        self._disabled: set[str] = set()
        self.skipped: list[str] = []  # names whose build declined, at the last apply

    @property
    def lock(self) -> Any:
        return self._patch.lock

    def active(self) -> contextlib.AbstractContextManager[None]:
        """torchready's converters in the registry while the block runs (re-entrant)."""
        return self._patch.active()

    def previous(self, name: str) -> Lowering | None:
        """What the registry held for `name` before this overlay (while it is applied)."""
        if name in self._previous:
            return self._previous[name]
        return registry().name_to_func_mapping.get(name)

    @contextlib.contextmanager
    def disabled(self, names: Iterable[str]) -> Iterator[None]:
        """The registry as it was for `names`, in every thread, while the block runs (for the
        tests that prove a converter is needed)."""
        names = set(names)
        with self.lock:
            added = names - self._disabled
            self._disabled |= added
            if self._patch.applied:
                self._uninstall(added)
        try:
            yield
        finally:
            with self.lock:
                self._disabled -= added
                if self._patch.applied:
                    self._install({name: self._lowerings[name] for name in added
                                   if name in self._lowerings})

    # --- applying and restoring ------------------------------------------------------------

    def _apply(self) -> None:
        mapping = registry().name_to_func_mapping
        before = dict(mapping)
        self._previous = {}
        self._lowerings = {}
        self.skipped = []
        for converter in self._converters():
            built = converter.build(before.get)
            self.skipped.extend(name for name in converter.names if name not in built)
            for name, lowering in built.items():
                self._previous[name] = before.get(name)
                self._lowerings[name] = (lowering, converter.owner)
        self._install({name: entry for name, entry in self._lowerings.items()
                       if name not in self._disabled})

    def _restore(self, _saved: Any) -> None:
        self._uninstall(set(self._installed))
        self._previous = {}
        self._lowerings = {}

    def _install(self, lowerings: dict[str, tuple[Lowering, str]]) -> None:
        mapping = registry().name_to_func_mapping
        for name, (lowering, owner) in lowerings.items():
            dispatcher = self._dispatcher(name, lowering, owner)
            mapping[name] = dispatcher
            self._installed[name] = dispatcher

    def _uninstall(self, names: set[str]) -> None:
        mapping = registry().name_to_func_mapping
        for name in names:
            dispatcher = self._installed.pop(name, None)
            if dispatcher is None or mapping.get(name) is not dispatcher:
                continue  # replaced by someone else meanwhile: theirs now
            original = self._previous.get(name)
            if original is None:
                del mapping[name]
            else:
                mapping[name] = original

    def _dispatcher(self, name: str, lowering: Lowering, owner: str) -> Lowering:
        original = self._previous.get(name)
        inside = self._patch.inside

        def dispatch(context: Any, node: Any) -> Any:
            if inside():
                return lowering(context, node)
            if original is None:
                raise not_implemented(node)
            return original(context, node)

        dispatch.__name__ = dispatch.__qualname__ = name
        dispatch.__module__ = owner
        dispatch.__doc__ = getattr(lowering, "__doc__", None)
        dispatch.torchready_lowering = lowering  # type: ignore[attr-defined]
        return dispatch
