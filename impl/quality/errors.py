"""The one exception a user's bad input raises: its message is a single line naming the problem."""


class QualityError(ValueError):
    """Bad input to the assessor (a file, a shape, a secret): the CLI prints it and exits 2."""
