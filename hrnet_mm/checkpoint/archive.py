"""torch's two file formats, read with our own code and bounded memory: no ``torch.load`` involved.

- The zip format (torch >= 1.6): read with :mod:`zipfile`; every record must be *stored* (what
  ``torch.save`` writes; a compressed record could expand without bound), named once, inside the
  file and not overlapping another; each record read is checked against its CRC-32 (torch never
  checks it), and so is every record no tensor points to. TorchScript archives are refused.
- The legacy format (torch < 1.6, the MSRA releases): four small pickles, the object pickle, a
  list of storage keys, then each storage's element count and bytes.

The object pickle is run by :class:`~hrnet_mm.checkpoint.pickle_reader.PickleReader`; its
storages are read only when a tensor points to them, placed where ``map_location`` says, and the
result is copied into a fresh tree of plain types
(:func:`~hrnet_mm.checkpoint.pickle_reader.canonical`).
"""
import io
import re
import struct
import zipfile
from typing import Any, BinaryIO, Callable, Dict, Optional

import torch

from hrnet_mm.errors import CheckpointError

from .bounds import Budget
from .pickle_reader import PickleReader, Refused, StorageRef, TensorSpec, canonical, storage_dtype

_CHUNK = 1 << 20
_LOCATION = re.compile(r'(cpu|cuda|mps|xpu)(:\d{1,4})?')
_LEGACY_MAGIC_NUMBER = 0x1950a86a20f9469cfc6c
_LEGACY_PROTOCOL = 1001
ZIP_MAGIC = b'PK\x03\x04'
LEGACY_MAGIC = b'\x80\x02'  # torch's legacy format starts with a protocol-2 pickle


def _storage_key(value: Any) -> str:
    if type(value) is not str or not 0 < len(value) <= 64:
        raise Refused('a storage key that is not a short string')
    return value


def _location(value: Any) -> str:
    if type(value) is not str or not _LOCATION.fullmatch(value):
        raise Refused(f'a storage on device {value!r}: only cpu, cuda, mps and xpu storages are loaded')
    return value


def _read_into(stream: BinaryIO, nbytes: int) -> torch.UntypedStorage:
    """``nbytes`` from ``stream`` straight into a new CPU storage (no second copy)."""
    data = torch.empty(nbytes, dtype=torch.uint8)
    view = memoryview(data.numpy())  # type: ignore[arg-type]
    done = 0
    while done < nbytes:
        n = stream.readinto(view[done:done + _CHUNK])  # type: ignore[attr-defined]
        if not n:
            raise CheckpointError('truncated')
        done += n
    return data.untyped_storage()


class Placement:
    """Where storages go: ``map_location`` as ``torch.load`` takes it (None, device, dict or callable)."""

    def __init__(self, name: str, map_location: Any) -> None:
        self.name, self.map_location = name, map_location

    def _device(self, location: str) -> torch.device:
        device = torch.device(location)
        if device.type == 'cuda' and not torch.cuda.is_available():
            raise CheckpointError(f"{self.name} holds CUDA tensors and this host has no CUDA: load it with "
                                  "map_location='cpu'")
        return device

    def place(self, storage: torch.UntypedStorage, location: str) -> torch.UntypedStorage:
        where = self.map_location
        if callable(where):  # the caller's function (mmengine's resume passes one), never the file's
            placed = where(storage, location)
            if placed is None:
                return self.place_at(storage, location)
            placed = getattr(placed, '_untyped_storage', placed)
            if not isinstance(placed, torch.UntypedStorage):
                raise CheckpointError(f'{self.name}: map_location returned a {type(placed).__name__}, not a storage')
            return placed
        if isinstance(where, dict):
            return self.place_at(storage, where.get(location, location))
        return self.place_at(storage, location if where is None else where)

    def place_at(self, storage: torch.UntypedStorage, location: Any) -> torch.UntypedStorage:
        device = self._device(location) if isinstance(location, str) else torch.device(location)
        if device.type == 'cpu':
            return storage
        flat = torch.empty(0, dtype=torch.uint8).set_(storage, 0, (storage.nbytes(),), (1,))
        return flat.to(device).untyped_storage()


class _Storages:
    """Storages by key, read once each and placed; tensors built over them."""

    def __init__(self, budget: Budget, placement: Placement, read: Callable[[StorageRef], torch.UntypedStorage]):
        self.budget, self.placement, self.read = budget, placement, read
        self.refs: Dict[str, StorageRef] = {}
        self.loaded: Dict[str, torch.UntypedStorage] = {}

    def ref(self, key: str, dtype: torch.dtype, nbytes: int, location: str) -> StorageRef:
        known = self.refs.get(key)
        if known is not None:
            if known.dtype != dtype or known.nbytes != nbytes:
                raise Refused(f'storage {key} named twice with different types or sizes')
            return known
        self.refs[key] = StorageRef(key, dtype, nbytes, location)
        return self.refs[key]

    def storage(self, ref: StorageRef) -> torch.UntypedStorage:
        root = self.refs[ref.key]  # a legacy view shares its root's key
        if root.key not in self.loaded:
            self.budget.charge(root.nbytes, f'storage {root.key} ({root.nbytes:,} bytes)')
            self.loaded[root.key] = self.placement.place(self.read(root), root.location)
        return self.loaded[root.key]

    def tensor(self, spec: TensorSpec) -> torch.Tensor:
        storage = self.storage(spec.storage)
        offset = spec.offset + (spec.storage.view[0] // spec.dtype.itemsize if spec.storage.view else 0)
        if spec.dtype == torch.bool:  # a bool byte must be 0 or 1; the file's bytes may be anything
            raw = torch.empty(0, dtype=torch.uint8, device=storage.device).set_(storage, offset, spec.size, spec.stride)
            return raw != 0
        return torch.empty(0, dtype=spec.dtype, device=storage.device).set_(storage, offset, spec.size, spec.stride)


# ------------------------------------------------------------------------------------- zip
_END_RECORD = struct.Struct('<4s4H2LH')      # end of central directory
_END_LOCATOR_64 = struct.Struct('<4sLQL')    # zip64 end-of-central-directory locator
_END_RECORD_64 = struct.Struct('<4sQ2H2L4Q')  # zip64 end of central directory
# What zipfile keeps per record, charged before it parses the directory (a record costs ~50 file bytes).
_RECORD_COST = 512


def _record_count(stream: BinaryIO, size: int) -> int:
    """How many records the archive's end record announces (0 if there is none to read)."""
    tail = min(size, _END_RECORD.size + 0xFFFF)
    stream.seek(size - tail)
    data = stream.read(tail)
    at = data.rfind(b'PK\x05\x06')
    if at < 0 or at + _END_RECORD.size > len(data):
        return 0
    count = _END_RECORD.unpack_from(data, at)[4]
    if count == 0xFFFF and at >= _END_LOCATOR_64.size:
        signature, _, offset, _ = _END_LOCATOR_64.unpack_from(data, at - _END_LOCATOR_64.size)
        if signature == b'PK\x06\x07' and offset + _END_RECORD_64.size <= size:
            stream.seek(offset)
            record = stream.read(_END_RECORD_64.size)
            if record[:4] == b'PK\x06\x06':
                count = _END_RECORD_64.unpack(record)[5]
    stream.seek(0)
    return count


class ZipCheckpoint:
    """A torch zip archive checked for shape before anything in it is read (see the module doc)."""

    def __init__(self, stream: BinaryIO, size: int, name: str, budget: Budget) -> None:
        self.name = name
        budget.charge(_record_count(stream, size) * _RECORD_COST, 'the archive\'s record directory')
        try:
            self.archive = zipfile.ZipFile(stream)
            infos = self.archive.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, KeyError,
                UnicodeDecodeError, NotImplementedError) as err:
            raise CheckpointError(f'{name} is damaged or truncated: {type(err).__name__}: {_short(err)}') from None
        self.records = {info.filename: info for info in infos}
        if len(self.records) != len(infos):
            raise CheckpointError(f'{name} is damaged: its archive names a record twice')
        total = 0
        for info in infos:
            if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 1:
                raise CheckpointError(f'{name} is outside a loading bound (stored records only): record '
                                      f'{info.filename!r} is compressed or encrypted, which torch.save never writes')
            if info.compress_size != info.file_size or info.header_offset + info.file_size > size:
                raise CheckpointError(f'{name} is damaged: record {info.filename!r} does not fit in the file')
            total += info.file_size
        if total > size:
            raise CheckpointError(f'{name} is damaged: its archive records overlap')
        self.prefix = infos[0].filename.split('/')[0] + '/' if infos else ''
        if self.prefix + 'data.pkl' not in self.records:
            raise CheckpointError(f'{name} is a zip archive but not a torch checkpoint (no data.pkl record)')
        if any(not n.startswith(self.prefix) for n in self.records):
            raise CheckpointError(f'{name} is damaged: its records do not share one folder')
        if self.prefix + 'constants.pkl' in self.records:
            raise CheckpointError(f'{name} is a TorchScript archive, not a checkpoint (load it with torch.jit.load '
                                  'if you trust it)')
        self.checked: set = set()
        byteorder = self.records.get(self.prefix + 'byteorder')
        if byteorder is not None and (byteorder.file_size > 16 or self.read_small(byteorder.filename) != b'little'):
            raise CheckpointError(f'{name} is outside a loading bound (byte order): only little-endian files load')

    def _open(self, record: str) -> Any:
        info = self.records[record]
        self.checked.add(record)
        try:
            return self.archive.open(info)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
            raise CheckpointError(f'{self.name} is damaged: record {record!r}: {_short(err)}') from None

    def _reading(self, record: str, read: Callable[[Any], Any]) -> Any:
        try:
            with self._open(record) as f:
                value = read(f)
                if f.read(1):
                    raise CheckpointError('longer than its header says')
            return value
        except zipfile.BadZipFile as err:
            if 'CRC' in str(err):
                raise CheckpointError(f'{self.name} is damaged: archive record {record!r} fails its CRC-32 check') \
                    from None
            raise CheckpointError(f'{self.name} is damaged: record {record!r}: {_short(err)}') from None
        except (CheckpointError, OSError, EOFError, ValueError) as err:
            raise CheckpointError(f'{self.name} is damaged: record {record!r}: {_short(err)}') from None

    def read_small(self, record: str) -> bytes:
        return self._reading(record, lambda f: f.read(self.records[record].file_size))

    def read_storage(self, ref: StorageRef) -> torch.UntypedStorage:
        return self._reading(self.prefix + 'data/' + ref.key, lambda f: _read_into(f, ref.nbytes))

    def check_the_rest(self) -> None:
        """CRC-32 of every record not read yet, streamed (nothing kept)."""
        for record in self.records:
            if record not in self.checked:
                self._reading(record, lambda f: all(iter(lambda: f.read(_CHUNK), b'')))

    def load(self, budget: Budget, placement: Placement) -> Any:
        storages = _Storages(budget, placement, self.read_storage)

        def persistent_load(pid: Any) -> StorageRef:
            if type(pid) is not tuple or len(pid) != 5 or pid[0] != 'storage':
                raise Refused('a persistent id that is not a storage')
            _, kind, key, location, numel = pid
            dtype = storage_dtype(kind)
            key, location = _storage_key(key), _location(location)
            if type(numel) is not int or numel < 0:
                raise Refused('a storage with a bad element count')
            info = self.records.get(self.prefix + 'data/' + key)
            if info is None or info.file_size != numel * dtype.itemsize:
                raise CheckpointError(f'{self.name} is damaged: storage {key} is missing or not '
                                      f'{numel} x {dtype.itemsize} bytes')
            return storages.ref(key, dtype, info.file_size, location)

        pickled = self.records[self.prefix + 'data.pkl']
        budget.charge(pickled.file_size, 'the data.pkl record')
        data = self.read_small(pickled.filename)
        reader = PickleReader(io.BytesIO(data), budget, persistent_load, len(data))
        value = canonical(reader, reader.load(), storages.tensor)
        self.check_the_rest()
        return value


# ---------------------------------------------------------------------------------- legacy
class LegacyCheckpoint:
    """torch's pre-1.6 format: header pickles, the object pickle, storage keys, then raw storages."""

    def __init__(self, stream: BinaryIO, size: int, name: str) -> None:
        self.stream, self.size, self.name = stream, size, name
        self.offsets: Dict[str, int] = {}

    def _pickle(self, budget: Budget, persistent_load: Optional[Callable] = None) -> Any:
        start = self.stream.tell()
        reader = PickleReader(self.stream, budget, persistent_load, self.size - start)
        return reader, reader.load()

    def read_storage(self, ref: StorageRef) -> torch.UntypedStorage:
        self.stream.seek(self.offsets[ref.key])
        try:
            return _read_into(self.stream, ref.nbytes)
        except CheckpointError:
            raise CheckpointError(f'{self.name} is truncated: storage {ref.key} is incomplete') from None

    def load(self, budget: Budget, placement: Placement) -> Any:
        storages = _Storages(budget, placement, self.read_storage)
        views: Dict[str, StorageRef] = {}

        def persistent_load(pid: Any) -> StorageRef:
            if type(pid) is not tuple or len(pid) != 6 or pid[0] != 'storage':
                raise Refused('a persistent id that is not a storage')
            _, kind, key, location, numel, view = pid
            dtype = storage_dtype(kind)
            key, location = _storage_key(key), _location(location)
            if type(numel) is not int or not 0 <= numel * dtype.itemsize <= self.size:
                raise CheckpointError(f'{self.name} is damaged: storage {key} is larger than the file')
            root = storages.ref(key, dtype, numel * dtype.itemsize, location)
            if view is None:
                return root
            if type(view) is not tuple or len(view) != 3:
                raise Refused('a storage view that is not (key, offset, size)')
            view_key, offset, length = _storage_key(view[0]), view[1], view[2]
            if type(offset) is not int or type(length) is not int or offset < 0 or length < 0 \
                    or (offset + length) * dtype.itemsize > root.nbytes:
                raise Refused(f'a storage view outside storage {key}')
            views.setdefault(view_key, StorageRef(key, dtype, length * dtype.itemsize, location,
                                                  (offset * dtype.itemsize, length)))
            return views[view_key]

        _, magic = self._pickle(budget)
        _, protocol = self._pickle(budget)
        _, info = self._pickle(budget)
        if magic != _LEGACY_MAGIC_NUMBER or protocol != _LEGACY_PROTOCOL:
            raise CheckpointError(f'{self.name} is not a checkpoint: a pickle, but not torch\'s legacy format')
        if type(info) is dict and info.get('little_endian') is False:
            raise CheckpointError(f'{self.name} is outside a loading bound (byte order): only little-endian files load')
        reader, value = self._pickle(budget, persistent_load)
        _, keys = self._pickle(budget)
        if type(keys) is not list or any(type(k) is not str for k in keys):
            raise CheckpointError(f'{self.name} is damaged: its storage key list is not a list of keys')
        for key in keys:
            ref = storages.refs.get(key)
            count = self.stream.read(8)
            if ref is None or len(count) != 8 or int.from_bytes(count, 'little') * ref.dtype.itemsize != ref.nbytes:
                raise CheckpointError(f'{self.name} is damaged: storage {key} is not the size its header says')
            self.offsets[key] = self.stream.tell()
            if self.offsets[key] + ref.nbytes > self.size:
                raise CheckpointError(f'{self.name} is truncated: storage {key} runs past its end')
            self.stream.seek(ref.nbytes, io.SEEK_CUR)
        if set(storages.refs) - set(self.offsets):
            raise CheckpointError(f'{self.name} is damaged: a tensor points to a storage the file does not hold')
        return canonical(reader, value, storages.tensor)


def _short(err: BaseException) -> str:
    text = ' '.join(str(err).split())
    return (text[:200] + '...') if len(text) > 200 else (text or type(err).__name__)
