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
