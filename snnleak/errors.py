"""Errors that snnleak raises for bad input or an unusable configuration.

Every message is one line that names the problem and the fix. The CLI prints ``error: <message>``
for these and exits with status 2, without a traceback.
"""

from __future__ import annotations


class SnnleakError(Exception):
    """Base class: a problem the user can fix, described in one line."""


class ConfigError(SnnleakError, ValueError):
    """A configuration value is invalid."""


class BackendUnavailable(SnnleakError, RuntimeError):
    """A neuron backend cannot be loaded here (missing package, compiler or device)."""


class UnsupportedConfiguration(SnnleakError, ValueError):
    """A backend cannot represent the requested neuron configuration."""
