"""Checkpoints: one checked, data-only load for every source; saves that lose nothing; publishing.

- :mod:`.bounds`: the limits every load stays within (depth, sizes, key types, memory).
- :mod:`.integrity`: the sha256 prefix a published name carries.
- :mod:`.pickle_reader`: runs a checkpoint's pickle as data; no name it gives is imported or called.
- :mod:`.archive`: torch's zip and legacy formats, read with bounded memory (CRC-32s, stored records).
- :mod:`.safetensors_file`: the safetensors format, read and written.
- :mod:`.config_text`: config text inside a checkpoint is kept only if it is plain data.
- :mod:`.loading`: the one load (format, read, check, clean): a fresh tree of plain types.
- :mod:`.sources`: mmengine's schemes (local, URLs, model names, storage backends) routed to it.
- :mod:`.saving`: ``SafeCheckpointHook`` and ``publish_checkpoint``.
- :mod:`.backbone`: a checkpoint's state dict, how it fits a model, loading it into a backbone.
"""
from .backbone import checkpoint_width, load_backbone_checkpoint, load_strictly, unwrap_state_dict
from .bounds import DEFAULT_BOUNDS, Bounds
from .config_text import plain_config_problem
from .integrity import CheckpointError, hash_in_name, sha256_of, verify_checkpoint
from .loading import load_checkpoint_bytes, load_local_checkpoint, read_checkpoint
from .saving import SafeCheckpointHook, publish_checkpoint, write_text_atomically
from .sources import (
                      checkpoint_loaders_installed,
                      fetch_checkpoint,
                      install_checkpoint_loaders,
                      uninstall_checkpoint_loaders,
)

__all__ = ['DEFAULT_BOUNDS', 'Bounds', 'CheckpointError', 'SafeCheckpointHook', 'checkpoint_loaders_installed',
           'checkpoint_width', 'fetch_checkpoint', 'hash_in_name', 'install_checkpoint_loaders',
           'load_backbone_checkpoint', 'load_checkpoint_bytes', 'load_local_checkpoint', 'load_strictly',
           'plain_config_problem', 'publish_checkpoint', 'read_checkpoint', 'sha256_of',
           'uninstall_checkpoint_loaders', 'unwrap_state_dict', 'verify_checkpoint', 'write_text_atomically']
