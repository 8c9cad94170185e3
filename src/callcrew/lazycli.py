"""Commands whose module is imported only when the command runs, so `--help` and `cost` start fast.

Importing every command's module to build the app cost seconds (LiveKit's agent framework,
SQLAlchemy, aiohttp) before any command ran. Here each command is listed with its one-line
help; `callcrew --help` shows that line, and the module is imported, and its `register(app)`
called, only when the command is resolved. tests/test_cli.py checks the listed help against
the modules' own, and that `--help` and `cost` never import `livekit.agents`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class Lazy:
    module: str  # defines register(app: typer.Typer), which adds this command (and maybe others)
    help: str  # what `callcrew --help` lists before the module is loaded


class _Unloaded(TyperCommand):
    """Stands in for a command in the help listing until its module is imported."""

    def invoke(self, ctx: Any) -> Any:  # never reached: resolve_command loads the real one
        raise RuntimeError(f"command {self.name!r} was not loaded")


class LazyGroup(TyperGroup):
    table: ClassVar[dict[str, Lazy]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, lazy in self.table.items():
            self.commands.setdefault(
                name, _Unloaded(name, help=lazy.help, rich_markup_mode=self.rich_markup_mode)
            )

    def load(self, name: str) -> None:
        """Import the command's module and put its real commands in place of the stand-ins."""
        if not isinstance(self.commands.get(name), _Unloaded):
            return
        module = importlib.import_module(self.table[name].module)
        sub = typer.Typer(rich_markup_mode=self.rich_markup_mode)
        module.register(sub)
        for registered, command in typer.main.get_group(sub).commands.items():
            if registered not in self.commands or isinstance(self.commands[registered], _Unloaded):
                self.commands[registered] = command

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] in self.table:
            self.load(args[0])
        return super().resolve_command(ctx, args)


def lazy_group(table: dict[str, Lazy]) -> type[LazyGroup]:
    return type("CommandGroup", (LazyGroup,), {"table": table})
