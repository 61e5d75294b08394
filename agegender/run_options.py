"""The bridge between the ``run`` parser and the config file: the run options as
:class:`~edge.service.config.OptionSpec` values, which options a command line gave explicitly, and
the merge of a loaded file into the parsed arguments. The only place where argparse meets the config."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:   # imported where used: `agegender` starts without loading the config module
    from edge.service.config import AppConfig, OptionSpec

# run-parser dests that are not options of a run (the file itself, argparse plumbing)
_NOT_IN_FILE = {"config", "func", "help", "command"}



def run_options(parser: argparse.ArgumentParser) -> dict[str, OptionSpec]:
    """The options of the ``run`` parser, keyed by dest, in the parser's order."""
    from edge.service.config import OptionSpec

    specs: dict[str, OptionSpec] = {}
    for a in parser._actions:  # noqa: SLF001 - argparse has no public accessor for its actions
        if a.dest in _NOT_IN_FILE or a.dest is argparse.SUPPRESS or isinstance(
                a, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):  # noqa: SLF001
            continue
        flag = max(a.option_strings, key=len) if a.option_strings else a.dest
        convert = None
        if isinstance(a, (argparse._StoreTrueAction, argparse._StoreFalseAction,  # noqa: SLF001
                          argparse.BooleanOptionalAction)):
            kind = "bool"
        elif isinstance(a, argparse._CountAction):  # noqa: SLF001
            kind = "int"
        elif isinstance(a, argparse._AppendAction):  # noqa: SLF001
            kind = "list"
        elif a.type in (int, float):
            kind = a.type.__name__
        else:
            kind = "str"
            convert = a.type if callable(a.type) and a.type is not str else None
        default = list(a.default) if isinstance(a.default, list) else a.default
        help_text = "" if a.help in (None, argparse.SUPPRESS) else " ".join(str(a.help).split())
        specs[a.dest] = OptionSpec(a.dest, flag, kind, default, tuple(a.choices) if a.choices else None, help_text,
                                   a.const if a.nargs == "?" else None, convert)
    return specs




class _Unset(list):
    """Sentinel namespace value: a list subclass so that argparse's append actions can copy it."""


def explicit_dests(run_parser: argparse.ArgumentParser, run_argv: Sequence[str]) -> set[str]:
    """The dests given explicitly in ``run_argv`` (abbreviations and ``--opt=value`` included)."""
    specs = run_options(run_parser)
    ns = argparse.Namespace(**{k: _Unset() for k in specs})
    parsed, _ = run_parser.parse_known_args(list(run_argv), namespace=ns)
    given = {k for k in specs if not (type(getattr(parsed, k, None)) is _Unset and not getattr(parsed, k))}
    # an optional positional (source) is always "set": to its default when it was not given
    for a in run_parser._actions:  # noqa: SLF001
        if not a.option_strings and a.dest in given and getattr(parsed, a.dest) is a.default:
            given.discard(a.dest)
    return given


def run_argv_of(argv: Sequence[str], command: str = "run") -> list[str]:
    """The arguments after the subcommand (the top-level options take no values)."""
    argv = list(argv)
    return argv[argv.index(command) + 1:] if command in argv else []


def merge_run_options(args: argparse.Namespace, cfg: AppConfig, explicit: set[str]) -> argparse.Namespace:
    """File values fill every option not given explicitly on the command line."""
    for key, value in cfg.run.items():
        if key not in explicit:
            setattr(args, key, value)
    args.app_config = cfg
    return args




def run_parser_of(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    from edge.errors import AgeGenderError

    for action in parser._actions:  # noqa: SLF001 - argparse keeps subparsers here
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return action.choices["run"]
    raise AgeGenderError("internal: the CLI has no 'run' command")


def run_specs(parser: argparse.ArgumentParser) -> dict[str, OptionSpec]:
    """The run options of the whole CLI parser."""
    return run_options(run_parser_of(parser))
