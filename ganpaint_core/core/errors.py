"""Errors a user can act on. Each message says what went wrong and what to do about it."""
from __future__ import annotations

from typing import Any


class GanpaintError(Exception):
    """Base class: the message is short, complete and meant to be shown to a person as it is."""


class ManifestError(GanpaintError):
    """A model manifest (``model.json``) is malformed or inconsistent."""


class ConceptDictionaryError(GanpaintError):
    """A concept dictionary (``concepts.json``) is malformed or does not fit its generator."""


class ChecksumMismatch(GanpaintError):
    """A file's bytes are not the ones its manifest names; the file is refused."""


class FileUnavailable(GanpaintError):
    """A model file could not be found or downloaded from any of its sources."""


class CheckpointError(GanpaintError):
    """A weight file cannot be read safely, or is not of a known generator family."""


SHOWN_CHARS = 40  # a refused text value is quoted up to this many characters


def shown(value: Any) -> str:
    """``repr(value)``, cut short: an error message never echoes a megabyte back."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + f"… ({len(text)} characters)"
