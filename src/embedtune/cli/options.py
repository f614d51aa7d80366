"""CLI flags from pydantic config fields: one flag per field, its help text and default taken from the model.

A config model (``TrainConfig``, ``RecsysConfig``, ``SiteBuildOptions``, ``ServeSettings``) is where every
setting, its default and its description are written down once. Commands either derive their flags from
it (:func:`config_flags`, used by ``embedtune train``) or write a flag by hand and take its help from the
field (:func:`field_option`); tests/cli/test_options.py checks that every field is reachable and documented.

Flags default to ``None`` (= "not given"), so a value from a YAML config or the environment is only
overridden by a flag the user actually typed, and the model's own default applies otherwise.
"""

from __future__ import annotations

import inspect
import logging
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

#: The keyword argument a command decorated by :func:`config_flags` receives: ``{field: value or None}``.
OVERRIDES = "overrides"


def field_help(model: type[BaseModel], name: str) -> str:
    """The help text of ``model``'s field ``name``: its description (the test requires every field to have one)."""
    return model.model_fields[name].description or ""


def _shown_default(field: FieldInfo, flag_names: tuple[str, ...]) -> str | bool:
    """What ``--help`` shows as the default: the model's default (flags themselves default to "not given")."""
    default = field.default
    if default is PydanticUndefined or default is None or (field.default_factory is not None):
        return False
    if isinstance(default, bool):
        on, _, off = flag_names[0].partition("/")
        return (on if default else off).removeprefix("--") if off else False  # a one-sided switch: off unless given
    return str(default)


def field_option(model: type[BaseModel], name: str, *decls: str, **kwargs: Any) -> Any:
    """A ``typer.Option`` for ``model``'s field ``name``: help = the field's description, default shown = the model's."""
    field = model.model_fields[name]
    decls = decls or (f"--{name.replace('_', '-')}",)
    kwargs.setdefault("help", field_help(model, name))
    kwargs.setdefault("show_default", _shown_default(field, decls))
    return typer.Option(*decls, **kwargs)


def _flag_type(annotation: Any) -> tuple[Any, str | None]:
    """The type typer parses a field's flag as, and a metavar listing the allowed values of a ``Literal``.

    Literal values are parsed as text and checked by the model, so a wrong value gets the same error
    from a flag as from a YAML file.
    """
    args = get_args(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            return str, None  # e.g. float | str: text, converted by the model
        return _flag_type(inner[0])
    if get_origin(annotation) is Literal:
        return str, "[" + "|".join(str(a) for a in args) + "]"
    if get_origin(annotation) is list and len(args) == 1 and args[0] in (str, int, float, Path):
        return list[args[0]], f"<{args[0].__name__.lower()}>"  # type: ignore[valid-type]  # repeat the flag for several
    if annotation in (str, int, float, bool, Path):
        return annotation, None
    raise TypeError(f"no CLI flag type for {annotation!r}")


def config_flags(
    model: type[BaseModel],
    *,
    decls: Mapping[str, tuple[str, ...]] | None = None,
    panels: Mapping[str, str] | None = None,
    default_panel: str | None = None,
    not_flags: Mapping[str, str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command one flag per field of ``model``; it receives them as ``overrides={field: value|None}``.

    Flag names are the field names with dashes (``batch_size`` → ``--batch-size``); a bool field gets
    ``--name/--no-name``. ``decls`` replaces a field's flag declarations (short aliases, another negative
    form); ``panels`` groups flags under headings in ``--help`` (fields not named go under
    ``default_panel``); ``not_flags`` names fields deliberately left out, each with the reason.
    A field whose type has no flag form and is not in ``not_flags`` raises ``TypeError`` here, at import.

    Example::

        @config_flags(TrainConfig, decls={"output": ("--output", "-o")})
        def train_command(config: Path | None = None, *, overrides: dict[str, Any]) -> None:
            cfg = load_config(TrainConfig, config, overrides)
    """
    decls, panels, not_flags = dict(decls or {}), dict(panels or {}), dict(not_flags or {})
    unknown = (set(decls) | set(panels) | set(not_flags)) - set(model.model_fields)
    if unknown:
        raise TypeError(f"{model.__name__} has no fields {sorted(unknown)}")

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(command, eval_str=True)
        if OVERRIDES not in own.parameters:
            raise TypeError(f"{command.__name__} must take an {OVERRIDES!r} keyword argument")
        fields = [name for name in model.model_fields if name not in not_flags]
        clash = set(fields) & set(own.parameters)
        if clash:
            raise TypeError(f"{command.__name__}'s own parameters {sorted(clash)} clash with {model.__name__} fields")
        derived = []
        for name in fields:
            field = model.model_fields[name]
            try:
                flag_type, metavar = _flag_type(field.annotation)
            except TypeError as exc:
                raise TypeError(f"{model.__name__}.{name}: {exc}; give it a flag form or list it in not_flags") from None
            names = decls.get(name) or (
                (f"--{name.replace('_', '-')}/--no-{name.replace('_', '-')}",) if flag_type is bool
                else (f"--{name.replace('_', '-')}",)
            )
            option = field_option(model, name, *names, metavar=metavar,
                                  rich_help_panel=panels.get(name, default_panel))
            derived.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                             annotation=Annotated[flag_type | None, option]))
        # The command's own parameters, then the fields' (keyword-only, so any order of the own ones stays valid).
        signature = own.replace(parameters=[p for p in own.parameters.values() if p.name != OVERRIDES] + derived)

        def run(*args: Any, **kwargs: Any) -> Any:
            overrides = {name: kwargs.pop(name) for name in fields}
            return command(*args, **kwargs, **{OVERRIDES: overrides})

        run.__name__, run.__qualname__, run.__doc__ = command.__name__, command.__qualname__, command.__doc__
        run.__module__ = command.__module__
        run.__signature__ = signature  # type: ignore[attr-defined]  # what typer reads the flags from
        return run

    return decorate


def quiet_logging(quiet: bool) -> None:
    """What ``--quiet`` means for a command that logs its progress: embedtune logs at INFO unless quiet;
    quiet also silences the progress bars of the libraries underneath."""
    logging.getLogger("embedtune").setLevel(logging.WARNING if quiet else logging.INFO)
    if quiet:
        from embedtune.base_model import silence_progress_bars

        silence_progress_bars()
