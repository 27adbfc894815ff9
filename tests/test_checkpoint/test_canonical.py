"""Whatever a file holds, a load returns a fresh tree of plain types within documented bounds, or one error.

Hostile files are crafted two ways: with ``torch.save`` of objects that carry state of their own,
and byte by byte with :mod:`hrnet_mm.testing.pickles`. Loads that could crash or exhaust memory run
in a child process under an address-space limit, so a failure shows as a failed test.
"""
import collections
import io
import math
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import hrnet_mm  # noqa: F401  (routes mmengine's loading through the checked loader)
from hrnet_mm.checkpoint import CheckpointError, load_local_checkpoint, plain_config_problem, publish_checkpoint
from hrnet_mm.checkpoint.safetensors_file import save_safetensors
from hrnet_mm.testing import pickles as P

# Runs one load in a child process whose address space may grow by at most LIMIT_MB beyond what
# importing torch and hrnet_mm took; prints the outcome. A crash or an escaped error fails the test.
DATA = Path(__file__).resolve().parents[1] / 'data' / 'checkpoints'
CHILD = textwrap.dedent('''
    import re, resource, sys
    import hrnet_mm
    from hrnet_mm.checkpoint import CheckpointError, load_local_checkpoint
    vm = int(re.search(r'VmSize:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) * 1024
    limit = vm + int(sys.argv[2]) * 2 ** 20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        load_local_checkpoint(sys.argv[1])
        print('LOADED')
    except CheckpointError as err:
        print('REFUSED', err)
''')


def _child_load(path: Path, limit_mb: int = 400) -> str:
    done = subprocess.run([sys.executable, '-c', CHILD, str(path), str(limit_mb)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f'the load crashed or escaped (status {done.returncode}): {done.stderr[-2000:]}'
    return done.stdout.strip()


def _saved(tmp_path: Path, obj, name: str = 'c.pth', legacy: bool = False) -> Path:
    path = tmp_path / name
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


# ------------------------------------------------------------------ 1. objects carrying behaviour
def test_an_ordered_dict_with_attributes_of_its_own_is_refused_before_mmengine_sees_it(tmp_path):
    """An instance attribute ``get`` would hide ``meta`` from the config-text check; resume would run it."""
    marker = tmp_path / 'ran.txt'
    checkpoint = collections.OrderedDict(meta={'config': f'open({str(marker)!r}, "w")'},
                                         state_dict={'w': torch.ones(1)})
    checkpoint.get = 'shadows dict.get'
    path = _saved(tmp_path, checkpoint)
    with pytest.raises(CheckpointError, match='was refused.*OrderedDict whose state sets attributes'):
        load_local_checkpoint(path)
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(2, 1)), batch_size=1)
    with DefaultScope.overwrite_default_scope('mmengine'):
        runner = Runner(model=torch.nn.Linear(1, 1), work_dir=str(tmp_path / 'w'), load_from=str(path), resume=True,
                        train_dataloader=loader, train_cfg=dict(by_epoch=True, max_epochs=1),
                        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)), default_scope='mmengine',
                        experiment_name=f'shadow-{tmp_path.name}')
        with pytest.raises(CheckpointError):
            runner.load_or_resume()
    assert not marker.exists()


def test_a_state_dict_with_attributes_beyond_metadata_is_refused(tmp_path):
    state = collections.OrderedDict(w=torch.ones(1))
    state._metadata = collections.OrderedDict({'': {'version': 1}})
    state.values = 'shadows dict.values'
    with pytest.raises(CheckpointError, match='was refused'):
        load_local_checkpoint(_saved(tmp_path, {'state_dict': state}))


def test_a_state_dicts_metadata_survives_as_plain_data(tmp_path):
    model = torch.nn.BatchNorm2d(2)
    loaded = load_local_checkpoint(_saved(tmp_path, {'state_dict': model.state_dict()}))['state_dict']
    assert type(loaded) is collections.OrderedDict
    assert set(vars(loaded)) == {'_metadata'} and loaded._metadata == model.state_dict()._metadata
    torch.nn.BatchNorm2d(2).load_state_dict(loaded)


@pytest.mark.parametrize('legacy', [False, True])
def test_tensor_attributes_do_not_survive_and_publish_checks_every_weight(tmp_path, legacy):
    nan = torch.tensor([1.0, float('nan')])
    nan.is_floating_point = False  # would make publish's NaN check skip (or crash on) this tensor
    param = torch.nn.Parameter(torch.ones(2))
    param.no_decay = True
    path = _saved(tmp_path, {'state_dict': {'a.weight': param, 'b.weight': nan}}, legacy=legacy)
    loaded = load_local_checkpoint(path)['state_dict']
    for value in loaded.values():
        assert type(value) is torch.Tensor and not value.__dict__ and not value.requires_grad
    with pytest.raises(CheckpointError, match=r'NaN or Inf weights \(first: b.weight\)'):
        publish_checkpoint(path, tmp_path / 'out.pth')


def _history_buffer(*ops: bytes) -> bytes:
    return P.PROTO2 + P.global_('mmengine.logging.history_buffer', 'HistoryBuffer') + b''.join(ops) + P.STOP


@pytest.mark.parametrize('ops', [
    (P.EMPTY_TUPLE, P.REDUCE, P.EMPTY_DICT, P.BUILD),                              # built by a call
    (P.EMPTY_TUPLE, P.NEWOBJ, P.EMPTY_DICT, P.BUILD, P.EMPTY_DICT, P.BUILD),       # state set twice
    (P.tuple_(P.integer(1)), P.NEWOBJ, P.EMPTY_DICT, P.BUILD),                   # with arguments
], ids=['reduce-then-build', 'build-twice', 'newobj-with-args'])
def test_a_history_buffer_is_only_ever_made_by_its_constructor(tmp_path, ops):
    path = P.as_torch_file(_history_buffer(*ops), tmp_path / 'hb.pth')
    with pytest.raises(CheckpointError, match='was refused'):
        load_local_checkpoint(path)


# ------------------------------------------------------------------ 2. only dense CPU-strided tensors
def _layouts():
    bad_sparse = torch.sparse_coo_tensor(torch.tensor([[5]]), torch.tensor([1.0]), (2,), check_invariants=False)
    return {
        'sparse-out-of-range': bad_sparse,
        'sparse-csr': torch.eye(3).to_sparse_csr(),
        'meta': torch.empty(3, device='meta'),
        'nested': None,  # torch 2.1 cannot save one: a file written by torch 2.14 (tests/data/checkpoints)
        'quantized': torch.quantize_per_tensor(torch.ones(2), 0.1, 0, torch.qint8),
    }


@pytest.mark.parametrize('kind', sorted(_layouts()))
def test_layouts_no_hrnet_checkpoint_holds_are_refused(tmp_path, kind):
    tensor = _layouts()[kind]
    path = DATA / 'nested.pth' if tensor is None else _saved(tmp_path, {'state_dict': {'w': tensor}})
    with pytest.raises(CheckpointError, match='was refused'):
        load_local_checkpoint(path)


def test_init_weights_from_meta_tensors_is_one_checkpoint_error(tmp_path):
    from hrnet_mm.models import HRNet
    model = HRNet(arch='w18-small-v1')
    path = _saved(tmp_path, {'state_dict': {k: torch.empty_like(v, device='meta') for k, v in
                                            model.state_dict().items()}})
    model = HRNet(arch='w18-small-v1', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(CheckpointError, match='was refused'):
        model.init_weights()


def _torch_saves(dtype: torch.dtype) -> bool:
    """Whether this torch's ``torch.save`` writes tensors of ``dtype`` (float8: from torch 2.2 on)."""
    try:
        torch.save(torch.empty(1, dtype=dtype), io.BytesIO())  # empty: torch 2.1 cannot fill float8
    except KeyError:
        return False
    return True


def _written(path: Path, weights: dict) -> Path:
    if path.suffix == '.safetensors':
        save_safetensors(path, weights)
    else:
        torch.save({'state_dict': weights}, path)
    return path


@pytest.mark.parametrize('dtype', ['float8_e4m3fn', 'float8_e5m2', 'bfloat16', 'float16'])
def test_low_precision_weights_publish_and_their_nans_are_found(tmp_path, dtype):
    dtype = getattr(torch, dtype)
    values = torch.linspace(-2, 2, 7)  # float32, converted: torch 2.1 has no float8 arithmetic
    weights = {'w': values.to(dtype)}
    # A torch that cannot pickle the dtype gets such weights as .safetensors (ours is written byte-wise).
    suffix = 'pth' if _torch_saves(dtype) else 'safetensors'
    path = _written(tmp_path / f'c.{suffix}', weights)
    published = publish_checkpoint(path, tmp_path / f'release.{suffix}')
    assert torch.equal(load_local_checkpoint(published)['state_dict']['w'].float(), weights['w'].float())
    if suffix == 'safetensors':  # and a .pth copy is refused in one line, naming the way that works
        with pytest.raises(CheckpointError, match=r'cannot write these weights to a \.pth file.*\.safetensors'):
            publish_checkpoint(path, tmp_path / 'release.pth')
        assert not list(tmp_path.glob('release*.pth'))
    values[3] = float('nan')
    weights = {'w': values.to(dtype)}
    assert torch.isnan(weights['w'].float()).any()
    bad = _written(tmp_path / f'bad.{suffix}', weights)
    with pytest.raises(CheckpointError, match=r'NaN or Inf weights \(first: w\)'):
        publish_checkpoint(bad, tmp_path / f'release.{suffix}')


# ------------------------------------------------------------------ 3. bounded structure
def _nested(depth: int, kind: str) -> bytes:
    if kind == 'list':
        body = P.EMPTY_LIST * depth + P.APPEND * (depth - 1)
    elif kind == 'tuple':
        body = P.MARK * depth + P.TUPLE * depth
    else:  # dict: {'k': {'k': ...}}
        body = (P.EMPTY_DICT + P.text('k')) * (depth - 1) + P.EMPTY_DICT + P.SETITEM * (depth - 1)
    return P.PROTO2 + body + P.STOP


@pytest.mark.parametrize('kind', ['list', 'tuple', 'dict'])
def test_deep_nesting_is_a_bound_not_a_crash(tmp_path, kind):
    path = P.as_torch_file(_nested(200_000, kind), tmp_path / f'{kind}.pth')
    outcome = _child_load(path)
    assert outcome.startswith('REFUSED') and 'outside a loading bound' in outcome, outcome


def test_a_container_holding_itself_is_a_bound(tmp_path):
    cycle = P.PROTO2 + P.EMPTY_LIST + P.put(0) + P.get(0) + P.APPEND + P.STOP
    with pytest.raises(CheckpointError, match='outside a loading bound \\(nesting depth\\)'):
        load_local_checkpoint(P.as_torch_file(cycle, tmp_path / 'cycle.pth'))


def _dict_of(keys) -> bytes:
    return P.PROTO2 + P.EMPTY_DICT + P.MARK + b''.join(k + P.NONE for k in keys) + P.SETITEMS + P.STOP


@pytest.mark.parametrize('kind', ['int', 'float', 'tuple'])
def test_keys_that_hash_alike_are_refused_at_the_first_one(tmp_path, kind):
    modulus = 2 ** 61 - 1  # CPython hashes ints modulo this: every key below lands in one bucket
    keys = {'int': [P.integer(k * modulus) for k in range(1, 20_000)],
            'float': [b'G' + struct.pack('>d', k * 2.0 ** 61) for k in range(1, 20_000)],
            'tuple': [P.tuple_(P.integer(k * modulus)) for k in range(1, 20_000)]}[kind]
    path = P.as_torch_file(_dict_of(keys), tmp_path / f'{kind}.pth')
    with pytest.raises(CheckpointError, match='outside a loading bound \\(key types\\)'):
        load_local_checkpoint(path)


def test_a_small_file_cannot_allocate_much(tmp_path):
    attacks = {
        'bytearray-call': P.PROTO2 + P.call('builtins', 'bytearray', P.integer(400 << 20)) + P.STOP,
        'claimed-long-bytes': P.PROTO2 + b'\x8e' + (1 << 40).to_bytes(8, 'little') + P.STOP,
        'claimed-long-int': P.PROTO2 + b'\x8b' + (2 ** 31 - 1).to_bytes(4, 'little') + P.STOP,
        'stride-zero-view': P.PROTO2 + P.state_dict(w=P.tensor(P.storage('0', 1), 0, (100_000, 100_000), (0, 0)))
        + P.STOP,
    }
    for name, pickle in attacks.items():
        path = P.as_torch_file(pickle, tmp_path / f'{name}.pth', records={'0': b'\0' * 4})
        assert path.stat().st_size < 4096
        outcome = _child_load(path, limit_mb=200)
        assert outcome.startswith('REFUSED'), (name, outcome)


def test_a_compressed_record_is_refused_before_it_expands(tmp_path):
    pickle = P.PROTO2 + P.state_dict(w=P.tensor(P.storage('0', 100 << 20 >> 2), 0, (100 << 20 >> 2,), (1,))) + P.STOP
    path = P.as_torch_file(pickle, tmp_path / 'deflated.pth', records={'0': bytes(100 << 20)},
                           compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 1 << 20
    outcome = _child_load(path, limit_mb=200)
    assert 'outside a loading bound (stored records only)' in outcome, outcome


def test_a_tensor_view_must_lie_within_its_storage(tmp_path):
    pickle = P.PROTO2 + P.state_dict(w=P.tensor(P.storage('0', 4), 3, (2,), (1,))) + P.STOP
    with pytest.raises(CheckpointError, match='tensor views within their storage'):
        load_local_checkpoint(P.as_torch_file(pickle, tmp_path / 'v.pth', records={'0': bytes(16)}))


def test_an_expanded_tensor_torch_saves_is_refused_by_the_memory_bound(tmp_path):
    path = _saved(tmp_path, {'state_dict': {'w': torch.zeros(1).expand(50_000, 50_000)}})
    outcome = _child_load(path, limit_mb=200)
    assert 'outside a loading bound (memory)' in outcome, outcome


def test_a_legacy_file_claiming_a_huge_storage_is_refused(tmp_path):
    path = _saved(tmp_path, {'state_dict': {'w': torch.arange(4.0)}}, legacy=True)
    data = bytearray(path.read_bytes())
    count = data.rindex((4).to_bytes(8, 'little'))  # the element count before the raw storage bytes
    data[count:count + 8] = (10 ** 12).to_bytes(8, 'little')
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match='is damaged'):
        load_local_checkpoint(path)


@pytest.mark.parametrize('text', ['x = ' + '[' * 100_000 + ']' * 100_000, 'x = ' + '-' * 200_000 + '1',
                                  'x = (' * 50_000 + '1' + ')' * 50_000])
def test_config_text_that_overwhelms_the_parser_is_dropped_not_raised(tmp_path, text):
    assert plain_config_problem(text) is not None
    path = _saved(tmp_path, {'meta': {'cfg': text, 'epoch': 1}, 'state_dict': {'w': torch.ones(1)}})
    assert load_local_checkpoint(path)['meta'] == {'epoch': 1}


# ------------------------------------------------------------------ what comes back
def _genuine_run_checkpoint() -> dict:
    from mmengine.logging import MessageHub
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(1, 3, 8, 8)).sum().backward()
    optimizer.step()
    hub = MessageHub.get_instance('canonical-test')
    hub.update_scalar('train/loss', 0.5)
    hub.update_info('sigmas', np.array([0.1, 0.2], dtype=np.float32))
    return {'meta': {'epoch': 2, 'dataset_meta': {'classes': ('a', 'b')}, 'seed': np.int64(3)},
            'state_dict': model.state_dict(), 'optimizer': optimizer.state_dict(), 'message_hub': hub.state_dict(),
            'param_schedulers': [{'milestones': collections.Counter({8: 1, 11: 1}), 'gamma': 0.1}]}


@pytest.mark.parametrize('legacy', [False, True])
def test_a_genuine_run_checkpoint_loads_equal_to_torchs_own_load(tmp_path, legacy):
    path = _saved(tmp_path, _genuine_run_checkpoint(), legacy=legacy)
    ours, theirs = load_local_checkpoint(path), torch.load(path, weights_only=False)

    def same(a, b):
        assert type(a) is type(b) or isinstance(a, type(b)), (type(a), type(b))
        if isinstance(b, torch.Tensor):
            assert type(a) is torch.Tensor and a.dtype == b.dtype and torch.equal(a, b)
        elif isinstance(b, dict):
            assert list(a) == list(b)
            for k in b:
                same(a[k], b[k])
        elif isinstance(b, (list, tuple)):
            assert len(a) == len(b)
            for x, y in zip(a, b):
                same(x, y)
        elif isinstance(b, np.ndarray):
            assert np.array_equal(a, b) and a.dtype == b.dtype
        elif type(b).__name__ == 'HistoryBuffer':
            assert np.array_equal(a._log_history, b._log_history) and a.max_length == b.max_length
        else:
            assert a == b or (isinstance(b, float) and math.isnan(a) and math.isnan(b))

    same(ours, theirs)


def test_map_location_functions_get_each_storage_once(tmp_path):
    shared = torch.arange(6.0)
    path = _saved(tmp_path, {'state_dict': {'a': shared, 'b': shared[2:], 'c': torch.ones(2)}})
    seen = []

    def place(storage, location):
        seen.append(location)
        return storage

    loaded = load_local_checkpoint(path, map_location=place)['state_dict']
    assert seen == ['cpu', 'cpu'] and loaded['b'].tolist() == [2.0, 3.0, 4.0, 5.0]
    assert loaded['a'].untyped_storage().data_ptr() == loaded['b'].untyped_storage().data_ptr()


# ------------------------------------------------------------------ safetensors
def test_published_safetensors_load_everywhere_and_match_the_reference_reader(tmp_path):
    from mmengine.runner import load_checkpoint
    from safetensors.torch import load_file
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    src = _saved(tmp_path, {'meta': {'epoch': 3, 'dataset_meta': {'classes': ('a', 'b')}},
                            'state_dict': model.state_dict(), 'optimizer': {'state': {}}})
    published = publish_checkpoint(src, tmp_path / 'release' / 'model.safetensors')
    assert published.suffix == '.safetensors' and published.stem.startswith('model-')
    reference = load_file(str(published))
    assert reference.keys() == model.state_dict().keys()
    assert all(torch.equal(reference[k], v) for k, v in model.state_dict().items())
    ours = load_local_checkpoint(published)
    assert ours['meta']['epoch'] == 3 and ours['meta']['dataset_meta'] == {'classes': ['a', 'b']}
    fresh = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    load_checkpoint(fresh, str(published))
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.state_dict().values()))


def test_safetensors_written_by_the_reference_writer_load(tmp_path):
    from safetensors.torch import save_file
    tensors = {'a': torch.randn(3, 2), 'b': torch.arange(4, dtype=torch.int64), 'c': torch.ones(2).bfloat16(),
               'd': torch.tensor([True, False])}
    save_file(tensors, str(tmp_path / 't.safetensors'), metadata={'format': 'pt'})
    loaded = load_local_checkpoint(tmp_path / 't.safetensors')['state_dict']
    assert all(torch.equal(loaded[k], v) for k, v in tensors.items())


def _safetensors(header: bytes, data: bytes = b'') -> bytes:
    return len(header).to_bytes(8, 'little') + header + data


@pytest.mark.parametrize('name,content', [
    ('truncated', _safetensors(b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', bytes(8))),
    ('overlapping', _safetensors(b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                                 b'"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', bytes(12))),
    ('wrong-size', _safetensors(b'{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', bytes(8))),
    ('bad-dtype', _safetensors(b'{"w":{"dtype":"OBJ","shape":[1],"data_offsets":[0,8]}}', bytes(8))),
    ('duplicate-key', _safetensors(b'{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                                   b'"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', bytes(1))),
    ('deep-json', _safetensors(b'{"w":' + b'[' * 100_000 + b']' * 100_000 + b'}')),
    ('header-past-end', (1 << 40).to_bytes(8, 'little') + b'{}'),
    ('not-json', _safetensors(b'{\xff\xfe garbage')),
])
def test_a_damaged_safetensors_file_is_one_checkpoint_error(tmp_path, name, content):
    path = tmp_path / f'{name}.safetensors'
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=str(path)):
        load_local_checkpoint(path)


def test_a_state_dict_keyed_by_ints_is_a_checkpoint_error_for_convert(tmp_path):
    from hrnet_mm.convert import read_checkpoint
    path = _saved(tmp_path, {'state_dict': {0: torch.ones(1), 1: torch.ones(1)}})
    with pytest.raises(CheckpointError, match='keyed by ints, not parameter names'):
        read_checkpoint(str(path))


def test_loaded_bytes_match_for_every_entry_point(tmp_path):
    """The in-memory load (URLs, storage backends) and the file load give the same tree."""
    from hrnet_mm.checkpoint import load_checkpoint_bytes
    path = _saved(tmp_path, _genuine_run_checkpoint())
    a, b = load_local_checkpoint(path), load_checkpoint_bytes(path.read_bytes(), str(path))
    assert a.keys() == b.keys() and all(torch.equal(a['state_dict'][k], b['state_dict'][k]) for k in a['state_dict'])
    buffer = io.BytesIO()
    torch.save(a, buffer)  # the canonical tree saves again as a checkpoint
    assert load_checkpoint_bytes(buffer.getvalue(), 'again.pth')['meta']['epoch'] == 2


# ------------------------------------------------------------------ what fuzzing found (docs/checkpoints.md)
@pytest.mark.parametrize('items,reason', [(700_000, 'longer than'), (300_000, 'loading bound (memory)')])
def test_config_text_is_parsed_only_within_the_memory_bound(tmp_path, items, reason):
    text = 'x = [' + '1, ' * items + ']'  # Python's parser takes ~330 bytes per character of this
    path = _saved(tmp_path, {'meta': {'cfg': text, 'epoch': 1}, 'state_dict': {'w': torch.ones(1)}})
    outcome = _child_load(path, limit_mb=200)  # the warning that drops the text, then the outcome
    assert outcome.splitlines()[-1] == 'LOADED' and 'dropped meta.cfg' in outcome and reason in outcome, outcome
    assert load_local_checkpoint(path)['meta'] == {'epoch': 1}


def test_a_config_text_naming_a_huge_int_as_a_module_is_a_problem_not_an_error():
    problem = plain_config_problem('custom_imports = dict(imports=[0x' + 'f' * 4000 + '])')
    assert problem == "custom_imports of modules not imported here: ['a int']"


def test_safetensors_meta_nested_past_the_depth_bound_is_refused(tmp_path):
    from hrnet_mm.checkpoint.safetensors_file import META_KEY, save_safetensors
    path = tmp_path / 'deep.safetensors'
    save_safetensors(path, {'w': torch.ones(1)}, {META_KEY: '{"deep": ' + '[' * 40 + ']' * 40 + '}'})
    with pytest.raises(CheckpointError, match='outside a loading bound \\(nesting depth\\)'):
        load_local_checkpoint(path)


def test_a_flood_of_memo_entries_is_stopped_by_the_memory_bound(tmp_path):
    entries = b''.join(P.NONE + b'r' + struct.pack('<I', i) + P.POP for i in range(600_000))
    path = P.as_torch_file(P.PROTO2 + entries + P.NONE + P.STOP, tmp_path / 'memo.pth')
    outcome = _child_load(path, limit_mb=120)
    assert 'outside a loading bound (memory)' in outcome, outcome


@pytest.mark.parametrize('legacy', [False, True])
def test_empty_bytes_and_empty_arrays_load(tmp_path, legacy):
    """mmpose's face dataset meta holds empty numpy arrays: protocol 2 writes their data as bytes()."""
    path = _saved(tmp_path, {'meta': {'raw': b'', 'sigmas': np.zeros(0, dtype=np.float32)},
                             'state_dict': {'w': torch.ones(1)}}, legacy=legacy)
    meta = load_local_checkpoint(path)['meta']
    assert meta['raw'] == b'' and meta['sigmas'].shape == (0,) and meta['sigmas'].dtype == np.float32
    bad = P.PROTO2 + P.call('__builtin__', 'bytes', P.integer(1 << 30)) + P.STOP
    with pytest.raises(CheckpointError, match='was refused'):
        load_local_checkpoint(P.as_torch_file(bad, tmp_path / 'big.pth'))
