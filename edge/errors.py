"""Errors the runtime raises. Each message names the file or device and, where possible, the fix."""
from __future__ import annotations


class AgeGenderError(Exception):
    """Base class: the CLI prints these as one line, without a traceback."""


class ContractError(AgeGenderError):
    """A model contract is missing, malformed, or does not match its model."""


class ModelLoadError(AgeGenderError):
    """A model file is missing, truncated, or cannot be run by the chosen backend."""


class BackendUnavailable(AgeGenderError):
    """The runtime a backend needs is not installed (the message names the pip extra)."""


class ImageReadError(AgeGenderError):
    """An input image is missing, unreadable, or not an image."""


class SourceError(AgeGenderError):
    """A video source cannot be opened or has failed."""


class SourceUnavailable(SourceError):
    """A source that can never open as given (a missing dependency or file, an unknown scheme):
    reported once at start, never retried."""


class SourceEnded(Exception):
    """The source has no more frames (end of a file, folder or finite demo): a normal end, not an error."""


class ConfigError(AgeGenderError):
    """A configuration value or key is wrong."""


class DatasetError(AgeGenderError):
    """A training or evaluation data set is missing or malformed."""
