"""The one exception type for bad user input: it always names the file (or key) and the problem."""


class InputError(ValueError):
    """Bad input data or configuration; the message names where and what."""
