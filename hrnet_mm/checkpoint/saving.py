"""Saving checkpoints so that a kill at any moment leaves one to resume from, and publishing them.

mmengine's ``CheckpointHook`` deletes the oldest checkpoint before it writes the new one, writes the
new one in place and then rewrites ``last_checkpoint`` in place: with ``max_keep_ckpts=1`` a kill
during the save leaves nothing to resume from, and a kill while ``last_checkpoint`` is written
leaves it empty. :class:`SafeCheckpointHook` (``type='hrnet_mm.SafeCheckpointHook'``, what our
configs use) keeps the hook's options and changes the order: write a temporary file, flush it to
disk, rename it, replace ``last_checkpoint`` by rename, and only then delete what expired. A
previous best checkpoint is likewise deleted only after the new best is written.

Temporary files are created exclusively (never through an existing name or symlink) with a name of
their own: ``<final name>.<host>-<pid>-<random>.partial``. A save that fails removes its own; a
run starting in a work dir removes only those whose writer is gone (this host, process ended), so
two runs sharing a work dir never delete each other's saves in progress.
"""
import contextlib
import os
import os.path as osp
import re
import socket
import tempfile
from pathlib import Path
from typing import Any, Iterator, List, Optional, Union

import torch
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook

from hrnet_mm.constants import CHECKPOINT_FORMATS
from hrnet_mm.errors import CheckpointError
from hrnet_mm.registry import HOOKS

from .integrity import sha256_of
from .loading import load_local_checkpoint
from .safetensors_file import META_KEY, meta_as_text, write_safetensors

PathLike = Union[str, Path]
PARTIAL = '.partial'
FORMATS = CHECKPOINT_FORMATS
# <final name>.<host>-<pid>-<random>.partial; host names are cut to what the pattern allows
_HOST = re.sub(r'[^A-Za-z0-9_]', '_', socket.gethostname())[:40] or 'host'
_OWNED = re.compile(r'\.(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[a-z0-9_]+' + re.escape(PARTIAL) + '$')


def temporary_file(final: PathLike) -> str:
    """Create, exclusively, a new empty file beside ``final`` named for this process; return its path.

    Example:
        >>> import tempfile, os
        >>> path = temporary_file(os.path.join(tempfile.mkdtemp(), 'iter_4.pth'))
        >>> os.path.basename(path).startswith('iter_4.pth.') and path.endswith('.partial')
        True
    """
    final = os.fspath(final)
    fd, path = tempfile.mkstemp(prefix=f'{osp.basename(final)}.{_HOST}-{os.getpid()}-', suffix=PARTIAL,
                                dir=osp.dirname(osp.abspath(final)))
    os.close(fd)
    return path


def _writer_gone(name: str) -> bool:
    """Whether the process that named this temporary file has ended (only known for this host)."""
    match = _OWNED.search(name)
    if match is None or match['host'] != _HOST:
        return False
    try:
        os.kill(int(match['pid']), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def _fsync(path: PathLike) -> None:
    with open(path, 'rb') as f:
        os.fsync(f.fileno())


def write_text_atomically(path: PathLike, text: str) -> None:
    """Replace ``path`` by a file holding ``text``: readers see the old or the new text, never a part."""
    tmp = temporary_file(path)
    try:
        with open(tmp, 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


class _DeferredRemovals:
    """A file backend whose ``remove``/``rmtree`` wait until the save they belong to is done."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.pending: List[tuple] = []

    def remove(self, path: str) -> None:
        self.pending.append(('remove', path))

    def rmtree(self, path: str) -> None:
        self.pending.append(('rmtree', path))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


@HOOKS.register_module()
class SafeCheckpointHook(CheckpointHook):
    """mmengine's ``CheckpointHook`` (same arguments) whose saves never leave nothing to resume.

    Example:
        >>> from hrnet_mm.registry import HOOKS
        >>> hook = HOOKS.build(dict(type='SafeCheckpointHook', interval=100, max_keep_ckpts=1))
        >>> type(hook).__name__, hook.max_keep_ckpts
        ('SafeCheckpointHook', 1)
    """

    @contextlib.contextmanager
    def _removals_after(self) -> Iterator[_DeferredRemovals]:
        hook: Any = self  # mmengine sets file_backend in before_train, untyped
        deferred = _DeferredRemovals(hook.file_backend)
        hook.file_backend = deferred
        try:
            yield deferred
        finally:
            hook.file_backend = deferred._backend
        for action, path in deferred.pending:  # only reached when the save succeeded
            getattr(hook.file_backend, action)(path)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process() and isinstance(self.file_backend, LocalBackend) and osp.isdir(self.out_dir):
            for name in os.listdir(self.out_dir):  # what a killed save left behind, never a live run's
                if name.endswith(PARTIAL) and _writer_gone(name):
                    with contextlib.suppress(OSError):
                        os.remove(osp.join(self.out_dir, name))

    def _expire(self, runner, step: int) -> List[str]:
        """Record ``step`` among the kept checkpoints; return the paths that fall out (deleted later)."""
        if self.max_keep_ckpts <= 0 or (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            return []
        expired = []
        while len(self.keep_ckpt_ids) >= self.max_keep_ckpts:
            old = self.filename_tmpl.format(self.keep_ckpt_ids.popleft())
            expired.append(self.file_backend.join_path(self.out_dir, old))
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        return expired

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        expired = self._expire(runner, step)
        name = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, name)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        # On local disks the bytes go to a temporary file of this process's and are renamed once
        # complete; the checkpoint's own records (last_ckpt, keep_ckpt_ids) name the final file.
        local = isinstance(self.file_backend, LocalBackend) and is_main_process()
        tmp = temporary_file(self.last_ckpt) if local else None
        try:
            runner.save_checkpoint(self.out_dir, osp.basename(tmp) if tmp else name, self.file_client_args,
                                   save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler,
                                   meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
            if tmp:
                _fsync(tmp)
                os.replace(tmp, self.last_ckpt)
        except BaseException:
            if tmp:
                with contextlib.suppress(OSError):
                    os.remove(tmp)
            raise
        if not is_main_process():
            return
        write_text_atomically(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for path in expired:
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # checkpoints saved by deepspeed are directories
                self.file_backend.rmtree(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        with self._removals_after():
            super()._save_best_checkpoint(runner, metrics)


def first_non_finite(state_dict: dict) -> Optional[str]:
    """The key of the first floating-point (or complex) tensor holding NaN or Inf, or None.

    Read in chunks as float32/complex64 whatever the dtype (float8 has no ``isfinite`` of its own).
    """
    for key, value in dict.items(state_dict):
        if not isinstance(value, torch.Tensor) or not (torch.is_floating_point(value) or torch.is_complex(value)):
            continue
        flat = value.detach().reshape(-1)
        for chunk in flat.split(1 << 20):
            wide = chunk.to(torch.complex64 if torch.is_complex(chunk) else torch.float32)
            if not bool(torch.isfinite(wide).all()):
                return key
    return None


def _release_format(out: Path, fmt: Optional[str]) -> str:
    fmt = fmt or ('safetensors' if out.suffix == '.safetensors' else 'pth')
    if fmt not in FORMATS:
        raise CheckpointError(f'the release format must be one of {FORMATS}, got {fmt!r}')
    return fmt


def _write_release(stream: Any, checkpoint: dict, state_dict: dict, fmt: str) -> None:
    if fmt == 'pth':
        try:
            torch.save(checkpoint, stream)
        except KeyError as err:  # torch.save knows no storage for the dtype (float8 before torch 2.2)
            raise CheckpointError(f'torch {torch.__version__} cannot write these weights to a .pth file '
                                  f'({err.args[0] if err.args else err}); publish them as .safetensors') from None
    else:
        meta = checkpoint.get('meta')
        text = meta_as_text(meta if isinstance(meta, dict) else {})
        write_safetensors(stream, state_dict, {'format': 'pt', META_KEY: text})


def publish_checkpoint(src: PathLike, out: Optional[PathLike] = None, keep_keys=('meta', 'state_dict'),
                       fmt: Optional[str] = None) -> Path:
    """Write a release copy of a trained checkpoint, OpenMMLab style: weights and meta only, hashed name.

    The copy is written to a temporary file of its own beside the target and renamed, so a failure
    (a full disk) leaves nothing behind and nothing at another path is ever written through.
    Config text that would run code is not kept (it is dropped on loading).

    Args:
        src: A checkpoint written by an mmengine runner (or any dict with ``state_dict``).
        out: Output path *stem* such as ``work_dirs/hrnet_w32.pth``. Default: next to ``src``.
        keep_keys: Top-level keys to keep; the optimizer and the other resume-only state go.
        fmt: ``'pth'`` (torch's format) or ``'safetensors'`` (no pickle at all; the meta as JSON
            text in its metadata). Default: from ``out``'s suffix, else ``'pth'``.

    Returns:
        Path: ``<out stem>-<sha256 prefix>.<pth|safetensors>``; the prefix has 8 hex digits, more if
        needed to hold a letter (so that :func:`~hrnet_mm.checkpoint.integrity.hash_in_name`
        recognizes it).

    Raises:
        CheckpointError: ``src`` is damaged, has no ``state_dict`` of named tensors, holds NaN/Inf
            weights (the first one is named), or the copy cannot be written.
    """
    checkpoint = load_local_checkpoint(src, map_location='cpu')
    state_dict = dict.get(checkpoint, 'state_dict')
    if not isinstance(state_dict, dict):
        raise CheckpointError(f'{src} has no state_dict to publish (keys: {sorted(map(str, checkpoint))[:8]})')
    if not all(type(k) is str and isinstance(v, torch.Tensor) for k, v in dict.items(state_dict)):
        raise CheckpointError(f'{src}: its state_dict must map parameter names to tensors')
    bad = first_non_finite(state_dict)
    if bad is not None:
        raise CheckpointError(f'{src} holds NaN or Inf weights (first: {bad}); refusing to publish it')
    released = {k: dict.__getitem__(checkpoint, k) for k in keep_keys if dict.__contains__(checkpoint, k)}
    out = Path(out) if out is not None else Path(src)
    fmt = _release_format(out, fmt)
    tmp: Optional[str] = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_file(out)
        with open(tmp, 'wb') as f:
            _write_release(f, released, state_dict, fmt)
            f.flush()
            os.fsync(f.fileno())
        digest = sha256_of(tmp)
        length = 8
        while not any(c in 'abcdef' for c in digest[:length]):
            length += 1
        final = out.with_name(f'{out.stem}-{digest[:length]}.{fmt}')
        os.replace(tmp, final)
    except OSError as err:
        if tmp:
            with contextlib.suppress(OSError):
                os.remove(tmp)
        raise CheckpointError(f'cannot write the published copy of {src} to {out.parent}: '
                              f'{err.strerror or err}') from None
    except BaseException:
        if tmp:
            with contextlib.suppress(OSError):
                os.remove(tmp)
        raise
    return final
