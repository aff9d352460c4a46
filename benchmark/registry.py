"""Create things by name, as timm's ``create_model`` and torch-fidelity's registries do.

Data sets, generators and detectors each have one :class:`Registry`; adding one is one decorated
function in one file, and ``deepbench ... --help`` lists what is registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmark.errors import DeepbenchError


class Registry:
    """Named entries of one kind, each with a one-line summary for help texts and, optionally, the group it
    belongs to (a generator's family: GAN, VAE, diffusion), which tables summarise over."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Any] = {}
        self._summaries: dict[str, str] = {}
        self._groups: dict[str, str] = {}

    def register(self, name: str, summary: str, group: str | None = None) -> Callable[[Any], Any]:
        """Decorator that registers its target under ``name``; names are unique."""
        def decorator(entry: Any) -> Any:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = entry
            self._summaries[name] = summary
            if group:
                self._groups[name] = group
            return entry
        return decorator

    def get(self, name: str) -> Any:
        """The entry called ``name``, or an error that lists the known names."""
        if name not in self._entries:
            raise DeepbenchError(f"unknown {self.kind} {name!r}; known: {', '.join(self.names())}")
        return self._entries[name]

    def summary(self, name: str) -> str:
        return self._summaries[name]

    def group(self, name: str) -> str | None:
        """The group ``name`` was registered in; None for a name registered without one, or not registered."""
        return self._groups.get(name)

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries
