"""Checkpoints: safe weights-only loading, integrity checks, publishing, and backbone loading."""
from .backbone import checkpoint_width, load_backbone_checkpoint
from .integrity import (
                        CheckpointError,
                        hash_in_name,
                        install_local_loader,
                        load_local_checkpoint,
                        publish_checkpoint,
                        verify_checkpoint_file,
)
from .safe_globals import mmengine_safe_globals, register_safe_globals

__all__ = ['CheckpointError', 'checkpoint_width', 'hash_in_name', 'install_local_loader', 'load_backbone_checkpoint',
           'load_local_checkpoint', 'mmengine_safe_globals', 'publish_checkpoint', 'register_safe_globals',
           'verify_checkpoint_file']
