"""The errors raised where untrusted input enters: files, uploads, archives, URLs, seeds.

Each is a ValueError whose message says what was expected and what was found. Callers (the CLI, the
page) catch InputError and show its text; any other exception is a bug.
"""
from __future__ import annotations


class InputError(ValueError):
    """Refused input: a file, upload, archive, URL or argument that is not what was expected."""


class CheckpointError(InputError):
    """A checkpoint or model folder that cannot be found, read, trusted or matched to a generator."""


class UnreachableError(CheckpointError):
    """A download whose server cannot be reached: no network, a refused connection, or no answer in time."""


class ImageError(InputError):
    """An image file (label map or style photo) that cannot be decoded within the limits."""


class LabelMapError(ImageError):
    """A label map whose content cannot be turned into the model's label ids."""


class SeedError(InputError):
    """A seed that is not an integer in the accepted range."""
