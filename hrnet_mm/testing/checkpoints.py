"""Checks that the tests apply to every checkpoint a real training run writes."""
from pathlib import Path
from typing import Union

from hrnet_mm.checkpoint import load_local_checkpoint, plain_config_problem
from hrnet_mm.checkpoint.config_text import config_texts


def load_run_checkpoint(path: Union[str, Path]) -> dict:
    """Load a checkpoint an mmengine run wrote, checking that safe loading keeps all of it.

    The load itself refuses anything it does not build, so a run that writes something new fails
    here; the config text in it must be plain data (else loading would drop it).

    Returns:
        dict: The checkpoint, loaded with :func:`hrnet_mm.checkpoint.load_local_checkpoint`.
    """
    raw = load_local_checkpoint(path)
    for where, container, key in config_texts(raw):
        problem = plain_config_problem(container[key])
        assert problem is None, f'{path}: {where} is not plain data: {problem}'
    return raw
