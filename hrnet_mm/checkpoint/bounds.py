"""The limits every checkpoint load stays within, and the ledger that enforces the memory one.

A load reads untrusted bytes, so what it may build is bounded up front, not after the fact: a file
outside a bound is one :class:`~hrnet_mm.errors.CheckpointError` naming the bound, raised before the
memory is taken. The numbers are documented in ``docs/checkpoints.md``; genuine checkpoints of every
packaged config, of the task libraries, timm and the MSRA releases sit far inside them.
"""
from dataclasses import dataclass

from hrnet_mm.errors import CheckpointError

MiB = 1 << 20


@dataclass(frozen=True)
class Bounds:
    """What one load may build.

    Attributes:
        max_depth: Deepest nesting of containers in the loaded tree (a checkpoint is ~6 deep).
        max_items: Most entries in one list, tuple or dict.
        max_text: Longest string or bytes value, in bytes.
        max_dims: Most dimensions of one tensor or array.
        max_int_key: Integer dict keys must lie in ``[-max_int_key, max_int_key)`` (optimizer state
            is keyed by parameter index); other keys must be strings.
        memory_factor: With ``memory_constant``: everything a load allocates (storages, tensor views
            counted at their full size, strings, containers) stays below
            ``memory_factor * file size + memory_constant`` bytes.
        memory_constant: See ``memory_factor``.
        max_header: Longest safetensors header, in bytes.
    """

    max_depth: int = 32
    max_items: int = 1 << 24
    max_text: int = 64 * MiB
    max_dims: int = 16
    max_int_key: int = 1 << 31
    memory_factor: int = 4
    memory_constant: int = 32 * MiB
    max_header: int = 16 * MiB


DEFAULT_BOUNDS = Bounds()


class Budget:
    """The memory ledger of one load: every allocation is charged before it is made.

    Args:
        name: The file or URL, for messages.
        file_size: Size of the file in bytes.
        bounds: The limits. Default: :data:`DEFAULT_BOUNDS`.

    Example:
        >>> budget = Budget('w.pth', file_size=1000)
        >>> budget.charge(100, 'a string')
        >>> budget.used
        100
    """

    def __init__(self, name: str, file_size: int, bounds: Bounds = DEFAULT_BOUNDS) -> None:
        self.name = name
        self.bounds = bounds
        self.limit = bounds.memory_factor * max(int(file_size), 0) + bounds.memory_constant
        self.used = 0

    def charge(self, nbytes: int, what: str) -> None:
        """Account for ``nbytes`` about to be allocated for ``what``.

        Raises:
            CheckpointError: The load would pass its memory bound.
        """
        self.used += max(int(nbytes), 0)
        if self.used > self.limit:
            raise CheckpointError(
                f'{self.name} is outside a loading bound (memory): {what} would bring what loading it allocates '
                f'past {self.limit:,} bytes ({self.bounds.memory_factor} x its size + '
                f'{self.bounds.memory_constant // MiB} MiB)')

    def refuse(self, bound: str, detail: str) -> CheckpointError:
        """The error for a file outside ``bound`` (raise it)."""
        return CheckpointError(f'{self.name} is outside a loading bound ({bound}): {detail}')
