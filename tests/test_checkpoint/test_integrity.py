"""Damaged files and non-checkpoints fail with a message saying so; published names carry a checked hash."""
import zipfile

import pytest
import torch
from mmengine.runner import load_checkpoint

import hrnet_mm  # noqa: F401  (routes mmengine's local loading through the checked loader)
from hrnet_mm.checkpoint import (
    CheckpointError,
    hash_in_name,
    load_local_checkpoint,
    publish_checkpoint,
    verify_checkpoint,
)
from hrnet_mm.models import HRNet


@pytest.fixture(scope='module')
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'model.pth'
    model = HRNet(arch='w18-small-v1')
    torch.save({'meta': {'epoch': 3}, 'state_dict': model.state_dict(), 'optimizer': {'state': {}, 'lr': 0.1},
                'message_hub': {'runtime_info': {'iter': 9}}}, path)
    return path


def _tensor_data_offset(path):
    """Offset of the first byte of the largest tensor record (where a flip changes a weight)."""
    with zipfile.ZipFile(path) as archive:
        info = max((i for i in archive.infolist() if '/data/' in i.filename), key=lambda i: i.file_size)
    with open(path, 'rb') as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = int.from_bytes(f.read(2), 'little'), int.from_bytes(f.read(2), 'little')
    return info.header_offset + 30 + name_len + extra_len + info.file_size // 2


def test_a_flipped_weight_byte_is_caught_although_torch_loads_it(good, tmp_path):
    data = bytearray(good.read_bytes())
    data[_tensor_data_offset(good)] ^= 0xFF
    bad = tmp_path / 'flipped.pth'
    bad.write_bytes(bytes(data))
    torch.load(bad, weights_only=True)  # torch itself does not notice
    with pytest.raises(CheckpointError, match='is damaged: archive record .* fails its CRC-32'):
        load_local_checkpoint(bad)
    with pytest.raises(CheckpointError, match='is damaged'):
        load_checkpoint(HRNet(arch='w18-small-v1'), str(bad))  # mmengine's loader, as runners use it


@pytest.mark.parametrize('kind', ['truncated', 'empty', 'text', 'pickled-list', 'tensorless-dict', 'zip-of-junk'])
def test_non_checkpoints_fail_with_a_message_that_says_so(good, tmp_path, kind):
    path = tmp_path / f'{kind}.pth'
    if kind == 'truncated':
        path.write_bytes(good.read_bytes()[: good.stat().st_size * 2 // 3])
    elif kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'text':
        path.write_text('model weights are on the shared drive\n')
    elif kind == 'pickled-list':
        torch.save([torch.ones(2)], path)
    elif kind == 'tensorless-dict':
        torch.save({'epoch': 3}, path)
    else:
        with zipfile.ZipFile(path, 'w') as archive:
            archive.writestr('notes.txt', 'hello')
    expected = {'truncated': 'damaged or truncated', 'empty': 'is empty: not a checkpoint',
                'text': 'is not a checkpoint', 'pickled-list': 'holds a list, not a checkpoint',
                'tensorless-dict': 'holds no tensor', 'zip-of-junk': 'zip archive but not a torch checkpoint'}[kind]
    with pytest.raises(CheckpointError, match=expected):
        load_local_checkpoint(path)
    with pytest.raises(CheckpointError, match=expected):
        HRNet(arch='w18-small-v1', init_cfg=dict(type='Pretrained', checkpoint=str(path))).init_weights()


def test_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_local_checkpoint(tmp_path / 'nope.pth')


def test_publish_strips_resume_state_and_names_the_hash(good, tmp_path):
    published = publish_checkpoint(good, tmp_path / 'hrnet_w18s.pth')
    digest = hash_in_name(published)
    assert digest is not None and len(digest) >= 8 and published.name == f'hrnet_w18s-{digest}.pth'
    import hashlib
    assert hashlib.sha256(published.read_bytes()).hexdigest().startswith(digest)
    loaded = load_local_checkpoint(published)
    assert sorted(loaded) == ['meta', 'state_dict'] and loaded['meta'] == {'epoch': 3}
    original = torch.load(good, weights_only=True)['state_dict']
    assert all(torch.equal(loaded['state_dict'][k], v) for k, v in original.items())
    # The same bytes under a name whose hash disagrees: refused.
    wrong = tmp_path / f"hrnet_w18s-{'0' * 7}a.pth"
    wrong.write_bytes(published.read_bytes())
    with pytest.raises(CheckpointError, match='its sha256 starts with'):
        verify_checkpoint(wrong)


def test_publish_cli(good, tmp_path, capsys):
    from hrnet_mm.cli import main
    assert main(['publish', str(good), '--out', str(tmp_path / 'rel.pth')]) == 0
    out = capsys.readouterr().out
    files = list(tmp_path.glob('rel-*.pth'))
    assert len(files) == 1 and files[0].name in out


@pytest.mark.parametrize('name, expected', [('hrnet_w32-36af842e.pth', '36af842e'), ('model-20240101.pth', None),
                                            ('iter_800.pth', None), ('best_mIoU_iter_80.pth', None),
                                            ('x-0123456789abcdef.pt', '0123456789abcdef')])
def test_hash_in_name(name, expected):
    assert hash_in_name(name) == expected


class _OpensAFile:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, 'w'))


def test_pickle_of_plain_objects_is_refused_not_run(tmp_path):
    marker = tmp_path / 'marker.txt'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(1)}, 'x': _OpensAFile(marker)}, path)
    with pytest.raises(CheckpointError, match='was refused'):
        load_local_checkpoint(path)
    assert not marker.exists()


def _zip_header_offsets(path) -> list:
    """Every byte offset of the archive's headers: local headers, central directory, end records."""
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        central_start = archive.start_dir
    size = path.stat().st_size
    offsets = []
    with open(path, 'rb') as f:
        for info in infos:
            f.seek(info.header_offset + 26)
            name_len, extra_len = int.from_bytes(f.read(2), 'little'), int.from_bytes(f.read(2), 'little')
            offsets += range(info.header_offset, info.header_offset + 30 + name_len + extra_len)
    return offsets + list(range(central_start, size))


def test_every_flipped_header_byte_is_caught_or_harmless(tmp_path):
    """A flip anywhere in the zip headers: a CheckpointError, or exactly the original checkpoint."""
    original = {'meta': {'iter': 3, 'name': 'x'}, 'state_dict': {'w': torch.arange(6.0), 'b': torch.ones(2, 3)}}
    good_path = tmp_path / 'small.pth'
    torch.save(original, good_path)
    data = good_path.read_bytes()
    offsets = _zip_header_offsets(good_path)
    assert len(offsets) > 300
    with zipfile.ZipFile(good_path) as archive:  # where the central directory stores each CRC-32
        crc_fields = set()
        position = archive.start_dir
        for _ in archive.infolist():
            crc_fields.update(range(position + 16, position + 20))
            lengths = data[position + 28:position + 34]
            position += 46 + sum(int.from_bytes(lengths[i:i + 2], 'little') for i in (0, 2, 4))
    refused = set()
    flipped = tmp_path / 'flipped.pth'
    for offset in offsets:
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        flipped.write_bytes(bytes(damaged))
        try:
            loaded = load_local_checkpoint(flipped)
        except CheckpointError:
            refused.add(offset)
            continue
        assert loaded['meta'] == original['meta'], offset
        assert loaded['state_dict'].keys() == original['state_dict'].keys(), offset
        assert all(torch.equal(loaded['state_dict'][k], v) for k, v in original['state_dict'].items()), offset
    assert crc_fields <= refused, 'a changed CRC-32 must always be caught'


def _saved_as_if_on_cuda(path, state_dict):
    """A checkpoint whose storages say ``cuda:0``, as one written on a GPU host does."""
    real = torch.serialization.location_tag
    torch.serialization.location_tag = lambda storage: 'cuda:0'
    try:
        torch.save({'state_dict': state_dict}, path)
    finally:
        torch.serialization.location_tag = real
    return path


def test_a_gpu_written_checkpoint_loads_and_passes_the_cli_checks_on_a_cpu_host(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from hrnet_mm.apis import build_model
    seg_demo = (Path(__file__).resolve().parents[2] / 'configs' / 'hrnet_seg'
                / 'fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py')
    weights = build_model(str(seg_demo))[0].state_dict()  # the commands check the weights fit the config
    path = _saved_as_if_on_cuda(tmp_path / 'gpu.pth', weights)
    first = next(iter(weights))
    assert load_local_checkpoint(path)['state_dict'][first].device.type == 'cpu'
    if not torch.cuda.is_available():  # with CUDA present, map_location=None loads it onto the GPU
        with pytest.raises(CheckpointError, match="holds CUDA tensors and this host has no CUDA: load it with "
                                                  "map_location='cpu'"):
            load_local_checkpoint(path, map_location=None)
    for command in (['test', str(seg_demo), str(path)], ['train', str(seg_demo), '--resume', str(path)]):
        done = subprocess.run([sys.executable, '-m', 'hrnet_mm.cli', *command, '--work-dir', str(tmp_path / 'w'),
                               '--dry-run'], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]


def test_an_empty_path_from_an_empty_last_checkpoint_says_what_happened():
    with pytest.raises(CheckpointError, match='the path is empty .*last_checkpoint .* a save was interrupted'):
        load_local_checkpoint('')


def test_a_legacy_file_loads_with_a_warning_unless_its_name_carries_its_hash(tmp_path, capsys):
    import hashlib

    from mmengine.logging import MMLogger
    path = tmp_path / 'legacy.pth'
    torch.save({'state_dict': {'w': torch.arange(3.0)}}, path, _use_new_zipfile_serialization=False)
    assert path.read_bytes()[:2] == b'\x80\x02'
    logger = MMLogger.get_current_instance()
    records = []
    handler = __import__('logging').Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        assert load_local_checkpoint(path)['state_dict']['w'].tolist() == [0.0, 1.0, 2.0]
        assert any('legacy format, which stores no checksums' in r.getMessage() for r in records)
        records.clear()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        prefix = next(digest[:n] for n in range(8, 65) if any(c in 'abcdef' for c in digest[:n]))
        named = tmp_path / f'legacy-{prefix}.pth'
        path.rename(named)
        assert load_local_checkpoint(named)['state_dict']['w'].tolist() == [0.0, 1.0, 2.0]
        assert not records, 'a verified hash makes the legacy file checked'
    finally:
        logger.removeHandler(handler)
