"""What the export and engine tests share: random-weight checkpoints and demo configs pointed at test data."""
import textwrap
from pathlib import Path
from typing import Union

import torch

from .twins import randomize_norms


def save_random_checkpoint(config: str, path: Union[str, Path]) -> str:
    """The config's model with seeded random weights and BN statistics, saved as an mmengine checkpoint."""
    from hrnet_mm.apis import build_model
    torch.manual_seed(0)
    model, _, _ = build_model(config)
    randomize_norms(model, seed=1, affine=True)
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return str(path)


def config_on_data(base: str, data_root: Union[str, Path], path: Union[str, Path], extra: str = '') -> str:
    """Write a config inheriting ``base`` with its data at ``data_root``, loaded in-process; return its path."""
    Path(path).write_text(textwrap.dedent(f"""\
        _base_ = ['{base}']
        data_root = '{data_root}/'
        train_dataloader = dict(dataset=dict(data_root=data_root), num_workers=0, persistent_workers=False)
        val_dataloader = dict(dataset=dict(data_root=data_root), num_workers=0, persistent_workers=False)
        test_dataloader = val_dataloader
        """) + extra)
    return str(path)
