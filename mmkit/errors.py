"""Errors a person can act on.

Every check on user input raises :class:`InputError` (a ``ValueError``) with a message that says what was
wrong and what to do instead, so the apps can show it as it is and the CLI can print it without a traceback.
"""


class InputError(ValueError):
    """Bad input from a user: empty text, a broken image, an unknown task, a model that cannot be loaded
    offline."""


class MissingDependencyError(ImportError):
    """An optional package is needed for this feature; the message names the ``pip install`` that fixes it."""
