"""The TOML configuration file: every ``agegender run`` option plus sections for the deployment parts.

``[run]`` is checked against the ``run`` command's options as :class:`OptionSpec` values, which the CLI
derives from its own parser (``agegender.run_options``), so an option added to the parser later is
accepted here without a change; this module never sees argparse. The other sections are
dataclasses registered by ``"module:Class"`` string and imported only when a file uses them::

    [run]
    source = "0"
    detector = "yunet"
    analytics_db = "/var/lib/agegender/analytics.sqlite"

    [analytics]
    window_s = 60

Everything is validated at start: an unknown key or a bad value raises :class:`ConfigError` with a
one-line message naming the file and the key (``config.toml: unknown key run.detectr``).
Nothing here imports more than the standard library.
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional, Sequence, Type, TypeVar, Union, get_args, get_origin, get_type_hints

from edge.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9/3.10 devices
    import tomli as tomllib

DEFAULT_PATH = Path("/etc/agegender/config.toml")

# Section name -> "module:Class". The class is a dataclass with ``from_dict(d) -> instance`` that
# raises ConfigError naming the key as ``section.key``. Imported only when needed.
SECTIONS: dict[str, str] = {
    "analytics": "edge.service.analytics:AnalyticsConfig",
    "watchdog": "edge.service.watchdog:WatchdogConfig",
    "http": "edge.service.http_server:HttpConfig",
    "mqtt": "edge.service.mqtt_sink:MqttConfig",
}

T = TypeVar("T")


# ---------------------------------------------------------------------------- [run]
@dataclass(frozen=True)
class OptionSpec:
    """One ``run`` option as the config file sees it."""

    key: str                      # the option's name, e.g. max_frames
    flag: str                     # --max-frames, or the positional's name
    kind: str                     # bool | int | float | str | list
    default: Any
    choices: Optional[tuple] = None
    help: str = ""
    const: Any = None             # for nargs='?' options: what a bare flag means (TOML: true)
    convert: Any = None           # a custom argparse ``type=`` callable, applied to strings


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def coerce_option(spec: OptionSpec, value: Any, where: str) -> Any:
    """Check one TOML value against its option; returns the value argparse would have produced."""
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{where}: expected {expected}, got {_type_name(value)} {value!r}")

    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if spec.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        out: Any = value
    elif spec.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        out = float(value)
    elif spec.kind == "list":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return list(value)
    else:
        if value is True and spec.const is not None:
            return spec.const                # `json = true` means the bare flag (--json)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and spec.key == "source":
            value = str(value)               # `source = 0`: camera index
        if not isinstance(value, str):
            raise bad("a string")
        out = value
        if spec.convert is not None:
            try:
                out = spec.convert(value)
            except Exception as e:  # noqa: BLE001 - an option's converter (argparse's ArgumentTypeError, ValueError...)
                raise ConfigError(f"{where}: {e}") from e
    if spec.choices is not None and out not in spec.choices:
        raise ConfigError(f"{where}: {out!r} is not one of {', '.join(map(str, spec.choices))}")
    return out


def _unknown_key(key: str, known: Sequence[str], prefix: str, source: str = "") -> ConfigError:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
    return ConfigError(f"{source + ': ' if source else ''}unknown key {prefix}{key}{hint}")


def parse_run_section(data: Any, specs: dict[str, OptionSpec], source: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: [run] must be a table")
    out: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = raw_key.replace("-", "_")
        if key not in specs:
            raise _unknown_key(raw_key, list(specs), "run.", source)
        out[key] = coerce_option(specs[key], value, f"{source}: run.{raw_key}")
    return out


# ---------------------------------------------------------------------------- dataclass sections
def _check_field_value(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    if origin is Union:                       # Optional[X]
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None or len(args) != 1:
            return value
        tp, origin = args[0], get_origin(args[0])
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {_type_name(value)} {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {_type_name(value)} {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {_type_name(value)} {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {_type_name(value)} {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {_type_name(value)} {value!r}")
        return value if origin is list else tuple(value)
    return value


def in_range(lo: float, hi: Optional[float] = None) -> Callable[[Any], Optional[str]]:
    """A field ``metadata['check']`` for numbers: ``lo <= v`` (and ``v <= hi``)."""
    def check(v: Any) -> Optional[str]:
        if v < lo or (hi is not None and v > hi):
            return f"must be between {lo:g} and {hi:g}" if hi is not None else f"must be at least {lo:g}"
        return None
    return check


class ConfigSection:
    """Base of a TOML section's dataclass: ``from_dict`` validates a table of section ``SECTION``."""

    SECTION: ClassVar[str] = ""

    @classmethod
    def from_dict(cls: Type[T], d: dict) -> T:
        return dataclass_from_dict(cls, d, cls.SECTION)  # type: ignore[attr-defined]


def dataclass_from_dict(cls: Type[T], data: Any, section: str) -> T:
    """Build a config dataclass from a TOML table: unknown keys and wrong types are ConfigErrors
    naming ``section.key``; a field's ``metadata['check']`` (value -> error text or None) adds a
    range check."""
    if not isinstance(data, dict):
        raise ConfigError(f"[{section}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    try:
        hints = get_type_hints(cls)
    except (NameError, TypeError):          # e.g. `int | None` on Python 3.9: check by value only
        hints = {}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in fields:
            raise _unknown_key(key, list(fields), f"{section}.")
        where = f"{section}.{key}"
        value = _check_field_value(hints.get(name, Any), value, where)
        check = fields[name].metadata.get("check")
        problem = check(value) if check else None
        if problem:
            raise ConfigError(f"{where}: {problem}")
        kwargs[name] = value
    return cls(**kwargs)


def section_class(name: str, source: str = "config") -> type:
    """Import a section's dataclass; a module this install lacks is a clean ConfigError."""
    target = SECTIONS[name]
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise ConfigError(f"{source}: section [{name}] needs {module_name}, which this installation of "
                              f"agegender does not have (remove the section or update agegender)") from e
        raise ConfigError(f"{source}: section [{name}] needs {module_name}, which cannot be imported "
                          f"(missing dependency {e.name}: pip install {e.name})") from e
    cls = getattr(module, cls_name, None)
    if cls is None:
        raise ConfigError(f"{source}: section [{name}]: {module_name} has no {cls_name}")
    return cls


# ---------------------------------------------------------------------------- the whole file
@dataclass
class AppConfig:
    """A loaded config file: the ``[run]`` values (by option name) and the other sections."""

    path: Optional[Path] = None
    run: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> Any:
        """The section's dataclass, or its defaults when the file has none (imports its module)."""
        if name not in self.sections:
            cls = section_class(name, str(self.path or "config"))
            self.sections[name] = cls.from_dict({})
        return self.sections[name]


def parse_config(data: dict[str, Any], specs: dict[str, OptionSpec], source: str = "config") -> AppConfig:
    cfg = AppConfig(Path(source))
    known = ["run", *SECTIONS]
    for name, table in data.items():
        if name == "run":
            cfg.run = parse_run_section(table, specs, source)
        elif name in SECTIONS:
            if not isinstance(table, dict):
                raise ConfigError(f"{source}: [{name}] must be a table, not {_type_name(table)}")
            cls = section_class(name, source)
            try:
                cfg.sections[name] = cls.from_dict(dict(table))
            except ConfigError as e:
                raise ConfigError(f"{source}: {e}") from e
            except (TypeError, ValueError) as e:   # a section class that does not check its own input
                raise ConfigError(f"{source}: [{name}]: {e}") from e
        elif isinstance(table, dict):
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean [{close[0]}]?)" if close else ""
            raise ConfigError(f"{source}: unknown section [{name}]{hint}; known: {', '.join(known)}")
        else:
            raise _unknown_key(name, known, "", source)
    return cfg


def load_config(path: Union[str, Path], specs: dict[str, OptionSpec]) -> AppConfig:
    """Read and validate a config file; every problem is a one-line ConfigError naming the file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError as e:
        raise ConfigError(f"{p}: config file not found") from e
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config file ({e.strerror})") from e
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text (byte {e.start})") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML ({e})") from e
    cfg = parse_config(data, specs, str(p))
    cfg.path = p
    return cfg


# ---------------------------------------------------------------------------- the default file
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    s = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def _placeholder(tp: Any) -> str:
    """What to show for a field whose default is None (``Optional[X]``)."""
    args = [a for a in get_args(tp) if a is not type(None)] or [tp]
    return {int: "0", float: "0.0", bool: "false", str: '""'}.get(args[0], '""')


def _section_lines(name: str, cls: type) -> list[str]:
    try:
        hints = get_type_hints(cls)
    except (NameError, TypeError):
        hints = {}
    lines = [f"[{name}]"]
    doc = (cls.__doc__ or "").strip().splitlines()
    if doc and not doc[0].startswith(cls.__name__ + "("):
        lines.insert(0, f"# {doc[0]}")
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            continue
        helptext = f.metadata.get("help", "")
        if helptext:
            lines.append(f"# {helptext}")
        if default is None:
            lines.append(f"# {f.name} = {_placeholder(hints.get(f.name, str))}")
        else:
            lines.append(f"{f.name} = {_toml_value(default)}")
    return lines


def default_toml(specs: dict[str, OptionSpec]) -> str:
    """A commented config file holding every default; it loads back as it is."""
    out = ["# agegender configuration (TOML). `agegender run --config FILE`; options given on the",
           "# command line override this file. Check a file with `agegender config --check FILE`.",
           "# Keys are the `agegender run` option names with '_' for '-'. Commented keys have no default.",
           "", "[run]"]
    for spec in specs.values():
        if spec.help:
            out.append(f"# {spec.flag}: {spec.help}" + (f" ({', '.join(map(str, spec.choices))})" if spec.choices else ""))
        elif spec.choices:
            out.append(f"# {spec.flag}: one of {', '.join(map(str, spec.choices))}")
        if spec.default is None:
            placeholder = {"int": "0", "float": "0.0"}.get(spec.kind, '"-"' if spec.const == "-" else '""')
            out.append(f"# {spec.key} = {placeholder}")
        else:
            out.append(f"{spec.key} = {_toml_value(spec.default)}")
    for name in SECTIONS:
        out.append("")
        try:
            cls = section_class(name)
        except ConfigError:
            out.append(f"# [{name}]: not available in this installation ({SECTIONS[name].split(':')[0]} is missing)")
            continue
        out.extend(_section_lines(name, cls))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------- writing chosen settings
NOTE_BEGIN, NOTE_END = "# >>> agegender tune", "# <<< agegender tune"


def update_run_section(text: str, values: dict[str, Any], note: Sequence[str] = ()) -> str:
    """``text`` (a config file) with ``values`` set in its ``[run]`` section: an existing or commented-out
    ``key = ...`` line is replaced in place, a missing key is added under the header, and ``note`` (comment
    lines) replaces the previous note between the tune markers. Everything else is kept as it was."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "[run]"), None)
    if start is None:
        lines = ["[run]"] + lines if not lines else lines + ["", "[run]"]
        start = lines.index("[run]")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
    body = lines[start + 1:end]
    if NOTE_BEGIN in body:   # drop the previous note
        a = body.index(NOTE_BEGIN)
        b = body.index(NOTE_END, a) if NOTE_END in body[a:] else a
        body = body[:a] + body[b + 1:]
    added = []
    for key, value in values.items():
        pattern = re.compile(rf"^\s*#?\s*{re.escape(key)}\s*=")
        line = f"{key} = {_toml_value(value)}"
        hit = next((i for i, b in enumerate(body) if pattern.match(b)), None)
        if hit is None:
            added.append(line)
        else:
            body[hit] = line
    block = ([NOTE_BEGIN, *(f"# {n}" for n in note), NOTE_END] if note else []) + added
    out = lines[:start + 1] + block + body + lines[end:]
    return "\n".join(out) + "\n"
