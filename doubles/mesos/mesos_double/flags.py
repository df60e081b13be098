# ruff: noqa: PLR0912
"""Flag loading of the Mesos PROTOCOL DOUBLE (not Apache Mesos): stout's rules.

Follows 3rdparty/stout/include/stout/flags/flags.hpp (FlagsBase::load/extract: command line,
booleans, MESOS_<NAME> environment for known names only), stout/flags/parse.hpp,
stout/duration.hpp, stout/bytes.hpp, stout/numify.hpp and stout/flags/fetch.hpp (file:// values).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------------------------
# Flags (3rdparty/stout/include/stout/flags/flags.hpp and friends)
# --------------------------------------------------------------------------------------------

# Units of stout/duration.hpp, in nanoseconds.
_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "secs": 1_000_000_000,
    "mins": 60 * 1_000_000_000,
    "hrs": 3600 * 1_000_000_000,
    "days": 86400 * 1_000_000_000,
    "weeks": 7 * 86400 * 1_000_000_000,
}
# Units of stout/bytes.hpp.
_BYTES_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


class FlagError(Exception):
    """A flag could not be loaded; the message is the one stout would return."""

    flags: Flags | None = None


@dataclass(frozen=True)
class Duration:
    nanos: int

    @property
    def secs(self) -> float:
        return self.nanos / 1e9

    def __str__(self) -> str:
        # stout/duration.hpp operator<<: the largest unit not above the value, printed as a
        # double with 15 significant digits ("1mins", "1.5mins", "10secs").
        n = self.nanos
        sign = "-" if n < 0 else ""
        n = abs(n)
        for unit in ("weeks", "days", "hrs", "mins", "secs", "ms", "us"):
            if n >= _DURATION_UNITS[unit]:
                return f"{sign}{_fmt_double(n / _DURATION_UNITS[unit])}{unit}"
        return f"{sign}{n}ns"


@dataclass(frozen=True)
class Bytes:
    value: int

    def __str__(self) -> str:
        # stout/bytes.hpp operator<<: raise the unit only without loss of information.
        b = self.value
        if b == 0:
            return "0B"
        for unit, size in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
            if b % size == 0:
                return f"{b // size}{unit}"
        return f"{b}B"


def _fmt_double(x: float) -> str:
    text = f"{x:.15g}"
    return text


def numify_double(s: str) -> float:
    try:
        value = float(s)
    except ValueError:
        raise FlagError(f"Failed to convert '{s}' to number") from None
    if s.strip() != s or s == "" or (math.isnan(value) and s.lower() != "nan"):
        raise FlagError(f"Failed to convert '{s}' to number")
    return value


def numify_uint(s: str, bits: int | None = None) -> int:
    # stout/numify.hpp (boost::lexical_cast): digits only; out of range fails too.
    if not s or not s.isdigit():
        raise FlagError(f"Failed to convert '{s}' to number")
    value = int(s)
    if bits is not None and value >= 2**bits:
        raise FlagError(f"Failed to convert '{s}' to number")
    return value


def numify_int(s: str) -> int:
    body = s[1:] if s[:1] in "+-" else s
    if not body or not body.isdigit():
        raise FlagError(f"Failed to convert '{s}' to number")
    return int(s)


def parse_duration(s: str) -> Duration:
    # stout/duration.hpp Duration::parse: digits and '.', then one of the unit names, nothing
    # else ("5mins" is valid, "5 mins", "5minutes" and "300" are not).
    index = 0
    while index < len(s):
        if s[index].isdigit() or s[index] == ".":
            index += 1
            continue
        value = numify_double(s[:index])
        unit = s[index:]
        if unit in _DURATION_UNITS:
            return Duration(round(value * _DURATION_UNITS[unit]))
        raise FlagError(f"Unknown duration unit '{unit}'")
    raise FlagError(f"Invalid duration '{s}'")


def parse_bytes(s: str) -> Bytes:
    # stout/bytes.hpp Bytes::parse: an unsigned integer then B, KB, MB, GB or TB (any case).
    index = 0
    while index < len(s):
        if s[index].isdigit():
            index += 1
            continue
        if s[index] == ".":
            raise FlagError(f"Fractional bytes '{s}'")
        value = numify_uint(s[:index])
        unit = s[index:].upper()
        if unit in _BYTES_UNITS:
            return Bytes(value * _BYTES_UNITS[unit])
        raise FlagError(f"Unknown bytes unit '{unit}'")
    raise FlagError(f"Invalid bytes '{s}'")


def parse_bool(s: str) -> bool:
    # stout/flags/parse.hpp.
    if s in ("true", "1"):
        return True
    if s in ("false", "0"):
        return False
    raise FlagError("Expecting a boolean (e.g., true or false)")


def parse_json(s: str) -> Any:
    # JSON-valued flags (acls, firewall_rules, modules, domain, ...) take inline JSON or a path.
    text = s
    if s.startswith("/"):
        try:
            with open(s, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise FlagError(f"Error reading file '{s}': {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise FlagError(f"Failed to parse JSON: {exc}") from None


PARSERS: dict[str, Callable[[str], Any]] = {
    "bool": parse_bool,
    "string": lambda s: s,
    "path": lambda s: s,
    "uint": numify_uint,
    "uint16": lambda s: numify_uint(s, 16),
    "int": numify_int,
    "double": numify_double,
    "duration": parse_duration,
    "bytes": parse_bytes,
    "json": parse_json,
}


@dataclass
class Flag:
    name: str
    kind: str
    help: str
    default: Any = None
    alias: str | None = None  # flags::DeprecatedName in upstream
    required: bool = False
    validate: Callable[[Any], str | None] | None = None


def stringify(kind: str, value: Any) -> str:
    if kind == "bool":
        return "true" if value else "false"
    if kind == "double":
        return _fmt_double(float(value))
    if kind == "json":
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


@dataclass
class Flags:
    program: str
    specs: dict[str, Flag]
    values: dict[str, Any] = field(default_factory=dict)
    loaded: dict[str, str] = field(default_factory=dict)  # flag name -> name it was loaded by
    warnings: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> Any:
        return self.values.get(name)

    def get(self, name: str, default: Any = None) -> Any:
        value = self.values.get(name)
        return default if value is None else value

    def is_set(self, name: str) -> bool:
        return name in self.loaded

    def effective_name(self, name: str) -> str:
        return self.loaded.get(name, name)

    def as_strings(self) -> dict[str, str]:
        """What upstream's /flags and state 'flags' show: every flag that has a value."""
        out: dict[str, str] = {}
        for name, spec in self.specs.items():
            value = self.values.get(name)
            if value is None:
                continue
            out[self.effective_name(name)] = stringify(spec.kind, value)
        return dict(sorted(out.items()))

    def usage(self, header: str) -> str:
        # stout FlagsBase::usage: "Usage: <program> [options]", then one column of names.
        lines = [header, "", f"Usage: {self.program} [options]", ""]
        col1: dict[str, str] = {}
        for name, spec in self.specs.items():
            if spec.kind == "bool":
                text = f"  --[no-]{name}" + (f", --[no-]{spec.alias}" if spec.alias else "")
            else:
                text = f"  --{name}=VALUE" + (f", --{spec.alias}=VALUE" if spec.alias else "")
            col1[name] = text
        width = max(len(t) for t in col1.values())
        for name in sorted(col1):
            spec = self.specs[name]
            helptext = spec.help
            if spec.default is not None:
                helptext += f" (default: {stringify(spec.kind, spec.default)})"
            lines.append(col1[name].ljust(width + 5) + helptext)
        return "\n".join(lines)


def _fetch(spec: Flag, raw: str) -> Any:
    # stout/flags/fetch.hpp: a 'file://' value is replaced by the file's contents (not for
    # Path-typed flags, which keep the path).
    value = raw
    if spec.kind != "path" and raw.startswith("file://"):
        path = raw[len("file://") :]
        try:
            with open(path, encoding="utf-8") as fh:
                value = fh.read()
        except OSError as exc:
            raise FlagError(f"Error reading file '{path}': {exc.strerror}") from None
        if spec.kind != "json":
            value = value.strip()
    return PARSERS[spec.kind](value)


def load(
    program: str,
    specs: Sequence[Flag],
    argv: Sequence[str],
    environ: Mapping[str, str],
    prefix: str = "MESOS_",
) -> Flags:
    """stout FlagsBase::load(prefix, argc, argv) with unknowns=false, duplicates=false."""
    by_name = {s.name: s for s in specs}
    aliases = {s.alias: s.name for s in specs if s.alias}
    flags = Flags(program=program, specs=by_name)
    for spec in specs:
        if spec.default is not None:
            flags.values[spec.name] = spec.default

    values: list[tuple[str, str | None]] = []
    for raw in argv:
        arg = raw.strip()
        if arg == "--":
            break
        if not arg.startswith("--"):
            continue  # stout skips anything that does not look like a flag
        if "=" in arg:
            name, value = arg[2:].split("=", 1)
            values.append((name.lower(), value))
        else:
            values.append((arg[2:].lower(), None))
    cmd_names = {n for n, _unused in values}
    for key, value in environ.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix) :].lower()  # Allow PREFIX_NAME or PREFIX_name.
        flag_name = name[3:] if name.startswith("no-") else name
        if (flag_name in by_name or flag_name in aliases) and name not in cmd_names:
            values.append((name, value))
    # stout keeps them in a std::multimap, i.e. sorted by name.
    values.sort(key=lambda nv: nv[0])

    try:
        _load_values(flags, values, by_name, aliases)
    except FlagError as exc:
        exc.flags = flags  # main() still honours --help/--version loaded before the error
        raise
    return flags


def _load_values(
    flags: Flags, values: list[tuple[str, str | None]], by_name: dict[str, Flag], aliases: dict[str, str]
) -> None:
    for name, value in values:
        negated = name.startswith("no-")
        flag_name = name[3:] if negated else name
        real = aliases.get(flag_name, flag_name)
        spec = by_name.get(real)
        if spec is None:
            raise FlagError(f"Failed to load unknown flag '{flag_name}'" + (f" via '{name}'" if negated else ""))
        if real in flags.loaded:
            raise FlagError(f"Flag '{flag_name}' is already loaded via name '{flags.loaded[real]}'")
        if spec.kind != "bool":
            if negated:
                raise FlagError(f"Failed to load non-boolean flag '{flag_name}' via '{name}'")
            if value is None:
                raise FlagError(f"Failed to load non-boolean flag '{flag_name}': Missing value")
            text = value
        elif value is None or value == "":
            text = "false" if negated else "true"
        elif not negated:
            text = value
        else:
            raise FlagError(f"Failed to load boolean flag '{flag_name}' via '{name}' with value '{value}'")
        try:
            flags.values[real] = _fetch(spec, text)
        except FlagError as exc:
            raise FlagError(f"Failed to load flag '{flag_name}': Failed to load value '{text}': {exc}") from None
        flags.loaded[real] = flag_name
        if flag_name in aliases:
            flags.warnings.append(f"Loaded deprecated flag '{flag_name}'")

    for spec in by_name.values():
        if spec.required and spec.name not in flags.loaded:
            raise FlagError(f"Flag '{spec.name}' is required, but it was not provided")
        if spec.validate is not None:
            error = spec.validate(flags.values.get(spec.name))
            if error:
                raise FlagError(error)


def environ_snapshot() -> dict[str, str]:
    return dict(os.environ)
