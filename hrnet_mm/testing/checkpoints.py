"""Checks that the tests apply to every checkpoint a real training run writes."""
from pathlib import Path
from typing import Union

import torch

from hrnet_mm.checkpoint import load_local_checkpoint, plain_config_problem
from hrnet_mm.checkpoint.config_text import config_texts
from hrnet_mm.checkpoint.unpickler import mmengine_globals


def load_run_checkpoint(path: Union[str, Path]) -> dict:
    """Load a checkpoint an mmengine run wrote, checking that safe loading keeps all of it.

    Every global its pickle names beyond torch's own must be one that
    :func:`hrnet_mm.checkpoint.unpickler.mmengine_globals` lists, and the config text in it must be
    plain data (else loading would drop it).

    Returns:
        dict: The checkpoint, loaded with :func:`hrnet_mm.checkpoint.load_local_checkpoint`.
    """
    beyond_torch = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))
    unknown = beyond_torch - set(mmengine_globals())
    assert not unknown, f'{path} names globals our unpickler does not build: {sorted(unknown)}'
    raw = load_local_checkpoint(path)
    for where, container, key in config_texts(raw):
        problem = plain_config_problem(container[key])
        assert problem is None, f'{path}: {where} is not plain data: {problem}'
    return raw
