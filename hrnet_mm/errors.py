"""Error types of hrnet_mm."""


class ConfigError(ValueError, AssertionError):
    """An invalid argument or config value.

    Both a ``ValueError`` (what hrnet_mm documents) and an ``AssertionError`` (what the stock
    OpenMMLab HRNets raise for bad architectures), so code written against either keeps working.
    """


def is_int(value: object) -> bool:
    """An ``int`` that is not a ``bool`` (``True`` is an int to Python, never a width or an index to us)."""
    return isinstance(value, int) and not isinstance(value, bool)


def one_line(err: BaseException, last: bool = False) -> str:
    """The first (or last) non-empty line of an exception's message, or its type name: what a user reads."""
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return (lines[-1] if last else lines[0]) if lines else type(err).__name__


class CheckpointError(ValueError):
    """A checkpoint that is damaged, not a checkpoint, outside a loading bound, or refused; names the file."""


class SetupError(RuntimeError):
    """The installed stack lacks something a command needs; the message says what to install."""


class MissingPackageError(SetupError, ImportError):
    """An optional package a command needs is not installed; the message says how to install it.

    Also an ``ImportError``, which is what code that only imports the package would have seen.
    """


class InputError(ValueError):
    """A user's input file that a command cannot use (an image too large or unreadable, an ONNX file no
    engine opens); the message starts with the file's path."""


def short_line(err: BaseException, limit: int = 300) -> str:
    """:func:`one_line`, cut to ``limit`` characters: a message may hold a whole config or tensor.

    Example:
        >>> short_line(ValueError('x' * 500), limit=10)
        'xxxxxxx...'
    """
    line = one_line(err).strip()
    return line if len(line) <= limit else line[:max(limit - 3, 0)] + '...'
