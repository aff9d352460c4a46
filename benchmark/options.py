"""Options declared once: a field of a config dataclass holds an option's default, help text and choices.

The command line's options are made from the fields (:func:`click_options`), suites' TOML set the same fields
by the same names, and ``run.json`` records them, so a new option is one new field. A flag is the field's name
with dashes (``lr_g`` is ``--lr-g``); a boolean is a ``--name/--no-name`` pair.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

import click

from benchmark.errors import DeepbenchError

log = logging.getLogger(__name__)


def option(default: Any, help: str, *, choices: Iterable[str] | None = None, aliases: tuple[str, ...] = ()) -> Any:
    """A config field: its default, the help text ``--help`` shows, the allowed values, and other flag names."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": tuple(choices or ()),
                                                        "aliases": aliases})


def with_defaults(config: Any, defaults: dict[str, Any]) -> Any:
    """``config`` (a dataclass) with each field left unset (None) taken from ``defaults``: where a generator family
    has its own defaults, an option the user gave wins and one they left out gets the family's value."""
    return dataclasses.replace(config, **{name: value for name, value in defaults.items()
                                          if getattr(config, name) is None})


def leave_out(config: Any, values: dict[str, Any], who: str) -> Any:
    """``config`` (a dataclass) with the fields ``who`` has no use for set to ``values``, what it uses instead.

    One command may pass the same options to several models (``generate`` trains GANs beside a VAE), so an
    option some other model uses is no error; a warning names each one given here that ``who`` ignores, and what
    is recorded is what was used."""
    for name, value in values.items():
        if getattr(config, name) not in (None, False, value):
            log.warning("%s has no use for --%s; ignored for it", who, name.replace("_", "-"))
    return dataclasses.replace(config, **values)


def stack(*decorators: Callable) -> Callable:
    """Apply click options in the order they are listed, so ``--help`` shows them in that order."""
    return lambda command: functools.reduce(lambda cmd, decorate: decorate(cmd), reversed(decorators), command)


def click_options(config: type, exclude: Iterable[str] = ()) -> Callable:
    """One click option per field of ``config`` (but ``exclude``), in the order the fields are declared."""
    hints = typing.get_type_hints(config)
    return stack(*(_click_option(field, hints[field.name]) for field in dataclasses.fields(config)
                   if field.name not in set(exclude)))


def _click_option(field: dataclasses.Field, annotation: Any) -> Callable:
    flag = "--" + field.name.replace("_", "-")
    kind = _without_none(annotation)
    metadata = field.metadata
    if kind is bool:
        return click.option(f"{flag}/--no-{flag[2:]}", *metadata.get("aliases", ()), field.name,
                            default=field.default, show_default=True, help=metadata.get("help"))
    value_type = click.Choice(metadata["choices"]) if metadata.get("choices") else kind
    return click.option(flag, *metadata.get("aliases", ()), field.name, type=value_type, default=field.default,
                        show_default=field.default is not None, help=metadata.get("help"))


def _without_none(annotation: Any) -> Any:
    """``int`` for ``int | None``: the type a flag's value is parsed as."""
    if isinstance(annotation, types.UnionType):
        kinds = [kind for kind in typing.get_args(annotation) if kind is not type(None)]
        return kinds[0] if len(kinds) == 1 else annotation
    return annotation


def take(config: type, params: dict[str, Any], **values: Any) -> Any:
    """The ``config`` built from a command's parameters: its fields are removed from ``params`` (what remains
    belongs to the command), and ``values`` set the fields the command decides itself (the seed, say)."""
    names = {field.name for field in dataclasses.fields(config)}
    return config(**{name: params.pop(name) for name in list(params) if name in names and name not in values},
                  **values)


def refuse_resume_with_force(resume: bool, force: bool, resume_does: str, force_does: str) -> None:
    """``--resume`` keeps what a run holds and ``--force`` replaces it: asked for both, say what each does."""
    if resume and force:
        raise DeepbenchError(f"--resume {resume_does} and --force {force_does}; pass one of them")
