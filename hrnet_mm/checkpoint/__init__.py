"""Checkpoints: one checked, data-only load for every source; saves that lose nothing; publishing.

- :mod:`.integrity`: is the file undamaged (CRC-32s, sha256 in the name)?
- :mod:`.unpickler`: builds tensors and plain data, nothing else.
- :mod:`.config_text`: config text inside a checkpoint is kept only if it is plain data.
- :mod:`.loading`: the one load (verify, unpickle, check, clean).
- :mod:`.sources`: mmengine's schemes (local, URLs, model names, storage backends) routed to it.
- :mod:`.saving`: ``SafeCheckpointHook`` and ``publish_checkpoint``.
- :mod:`.backbone`: a checkpoint's state dict, how it fits a model, loading it into a backbone.
"""
from .backbone import checkpoint_width, load_backbone_checkpoint, load_strictly, unwrap_state_dict
from .config_text import plain_config_problem
from .integrity import CheckpointError, hash_in_name, sha256_of, verify_checkpoint
from .loading import load_checkpoint_bytes, load_local_checkpoint
from .saving import SafeCheckpointHook, publish_checkpoint, write_text_atomically
from .sources import (
                      checkpoint_loaders_installed,
                      fetch_checkpoint,
                      install_checkpoint_loaders,
                      uninstall_checkpoint_loaders,
)

__all__ = ['CheckpointError', 'SafeCheckpointHook', 'checkpoint_loaders_installed', 'checkpoint_width',
           'fetch_checkpoint', 'hash_in_name', 'install_checkpoint_loaders', 'load_backbone_checkpoint',
           'load_checkpoint_bytes', 'load_local_checkpoint', 'load_strictly', 'plain_config_problem',
           'publish_checkpoint', 'sha256_of', 'uninstall_checkpoint_loaders', 'unwrap_state_dict',
           'verify_checkpoint', 'write_text_atomically']
