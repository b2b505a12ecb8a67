"""Errors that snnleak raises for bad input or an unusable configuration.

Every message is one line that names the problem and the fix. The CLI prints ``error: <message>``
for these and exits with status 2, without a traceback.
"""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """An exception's first line of text (its type's name when it has none), for quoting a
    lower layer's failure inside a one-line message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class SnnleakError(Exception):
    """Base class: a problem the user can fix, described in one line."""


class ConfigError(SnnleakError, ValueError):
    """A configuration value is invalid."""


class BackendUnavailable(SnnleakError, RuntimeError):
    """A neuron backend cannot be loaded here (missing package, compiler or device)."""


class UnsupportedConfiguration(SnnleakError, ValueError):
    """A backend cannot represent the requested neuron configuration."""


def choose(what: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise :class:`ConfigError` naming ``what`` and the choices unless ``value`` is one."""
    if value not in choices:
        raise ConfigError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")
