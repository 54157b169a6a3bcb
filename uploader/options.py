"""Settings as click options: every command that reads a manifest or talks to the service.

`settings_options(Command.X)` turns the RunSettings fields (config.py) that command X takes
into click options (one flag, one UPLOADER_* variable, one `[run]` key each, with the
field's default, help and check), and `settings_from` builds the typed RunSettings from
what click parsed. A bad value is a usage error (exit 2) that names where it came from:
the flag, the variable, or the config file's key.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import click
from click.core import ParameterSource

from uploader.config import (
    CONFIG_TABLE,
    RunSettings,
    check_endpoint_env,
    default_of,
    envvar_of,
    flag_of,
    key_of,
    load_config_file,
    settings_of,
)
from uploader.errors import InvalidInputError
from uploader.setting import (
    Choice,
    Command,
    Count,
    FilePath,
    Kind,
    Parsed,
    Seconds,
    Setting,
    Switch,
    Text,
)

FC = TypeVar("FC", bound=Callable[..., Any])


class SettingOption(click.Option):
    """A click option built from a RunSettings field; a bad value names its source.

    click reports a bad `UPLOADER_WORKERS=abc` as `Invalid value for '--workers'`; a user
    who never typed `--workers` then looks in the wrong place.
    """

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        """Convert and check the value; a failure names its source."""
        try:
            return super().process_value(ctx, value)
        except click.BadParameter as error:
            assert self.name is not None
            source = ctx.get_parameter_source(self.name)
            if source is ParameterSource.ENVIRONMENT:
                error.param_hint = f"{_envvar_used(self)} (environment)"
            elif source is ParameterSource.DEFAULT_MAP:
                error.param_hint = (
                    f"{ctx.meta.get(CONFIG_META)}: {CONFIG_TABLE}.{key_of(self.name)}"
                )
            raise


def _envvar_used(option: click.Option) -> str:
    """The environment variable an option's value was read from."""
    names = [option.envvar] if isinstance(option.envvar, str) else list(option.envvar or ())
    return next((name for name in names if os.environ.get(name)), names[0] if names else "")


class _ParsedBy(click.ParamType[Any]):
    """A click type from a setting's parser (InvalidInputError -> usage error).

    Values from the config file may already be numbers (`rate = 20`), or already parsed
    (a default); both are handled, so flags, variables and the file share one check.
    """

    def __init__(self, flag: str, kind: Parsed) -> None:
        self.name = kind.metavar
        self._flag = flag
        self._kind = kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Parse `value`, or fail with the parser's message (without the flag's name)."""
        if not isinstance(value, str | int | float):
            return value
        try:
            return self._kind.parse(str(value))
        except InvalidInputError as error:
            self.fail(str(error).removeprefix(self._flag).lstrip(": "), param, ctx)


class _Word(click.Choice[str]):
    """A choice among words whose value is what the setting's kind makes of the word."""

    def __init__(self, kind: Choice) -> None:
        super().__init__(kind.words)
        self._make = kind.make

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The word checked by click, then made into the value."""
        return self._make(super().convert(str(getattr(value, "value", value)), param, ctx))


CONFIG_META: Final = "uploader.config"


def _click_type(flag: str, kind: Kind) -> click.ParamType[Any] | None:
    """The click type of a setting's kind (None: a flag without a value)."""
    match kind:
        case Count(minimum=low, maximum=high):
            return click.IntRange(low, high)
        case Seconds(minimum=low, above=above):
            return click.FloatRange(min=low, min_open=above, max=math.inf, max_open=True)
        case FilePath(folder=folder):
            return click.Path(file_okay=not folder, dir_okay=folder, path_type=Path)
        case Choice():
            return _Word(kind)
        case Parsed():
            return _ParsedBy(flag, kind)
        case Text():
            return click.STRING
    return None


def _setting_option(name: str, spec: Setting, command: Command) -> Callable[[FC], FC]:
    """The click option of one setting, as `command` shows it."""
    flag = flag_of(name)
    default = default_of(name)
    kwargs: dict[str, Any] = {
        "cls": SettingOption, "help": spec.help_for(command), "hidden": spec.hidden,
        "envvar": [envvar_of(name), *spec.envvars], "metavar": spec.metavar,
        "default": default, "show_default": default is not None and default is not False,
    }  # fmt: skip
    if isinstance(spec.kind, Parsed):
        kwargs["metavar"] = spec.metavar or spec.kind.metavar
        kwargs["show_default"] = default is not None and spec.kind.show(default)
    if isinstance(spec.kind, Switch):
        kwargs["show_default"] = False
        decls = f"{flag}/--no-{flag[2:]}" if default else flag
        return click.option(decls, name, is_flag=True, **kwargs)
    return click.option(flag, name, type=_click_type(flag, spec.kind), **kwargs)


def _load_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    """`--config FILE` (eager): its `[run]` table gives this command's defaults.

    Every command reads the same table: a key this command does not take is left to the
    others; a key no command takes is an error.
    """
    if value is None:
        return
    try:
        values = load_config_file(value)
    except InvalidInputError as error:
        raise click.BadParameter(str(error), ctx=ctx, param_hint="--config") from None
    names = {p.name for p in ctx.command.params if isinstance(p, SettingOption)}
    ctx.default_map = {name: v for name, v in values.items() if name in names}
    ctx.meta[CONFIG_META] = value


_CONFIG: Final = click.option(
    "--config", type=click.Path(dir_okay=False, exists=True, path_type=Path), is_eager=True,
    expose_value=False, callback=_load_config, envvar="UPLOADER_CONFIG",
    help="TOML settings file (its [run] table, shared by every command); flags and UPLOADER_* "
         "variables win over it.",
)  # fmt: skip


def settings_options(command: Command) -> Callable[[FC], FC]:
    """`--config` and every setting `command` takes, in RunSettings's order."""

    def decorate(function: FC) -> FC:
        taken = [(n, s) for n, s in settings_of().items() if command in s.commands]
        for name, spec in reversed(taken):
            function = _setting_option(name, spec, command)(function)
        return _CONFIG(function)

    return decorate


def settings_from(manifest: str, params: dict[str, Any]) -> RunSettings:
    """The typed settings from a command's setting options (flags < env < config < defaults).

    Each command passes the settings it takes; the rest keep RunSettings's defaults.
    Checks across settings (RunSettings) are usage errors too, the same for every command.
    """
    try:
        if "endpoint_url" in params:  # a command that talks to the service
            check_endpoint_env()
        return RunSettings(manifest=manifest, **params)
    except InvalidInputError as error:
        raise click.UsageError(str(error), ctx=click.get_current_context()) from None


def source_of(ctx: click.Context, name: str) -> str:
    source = ctx.get_parameter_source(name)
    if source is ParameterSource.DEFAULT_MAP:
        return f"config {ctx.meta.get(CONFIG_META)}"
    if source is ParameterSource.ENVIRONMENT:
        option = next(p for p in ctx.command.params if p.name == name)
        assert isinstance(option, click.Option)
        return f"env {_envvar_used(option)}"
    return "flag" if source is ParameterSource.COMMANDLINE else "default"


def shown(spec: Setting, value: object) -> str:
    """A setting as a user would write it: `2/8` for a share, `auto` for an adaptive rate."""
    if value is None:
        return "-"
    if isinstance(spec.kind, Parsed | Choice):
        return str(spec.kind.to_json(value))
    return str(value)
