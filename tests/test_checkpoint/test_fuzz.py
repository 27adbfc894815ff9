"""The checkpoint fuzz harness: its oracle can fail, its inputs reach deep code, a short run finds nothing."""
import collections

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from hrnet_mm.checkpoint import load_checkpoint_bytes
from hrnet_mm.testing.checkpoint_fuzz import (
    GENERATORS,
    Corpus,
    FuzzRun,
    assemble,
    canonical_problem,
    format_summary,
    generate,
)


@pytest.fixture(scope='module')
def corpus() -> Corpus:
    return Corpus()


class _Subclass(torch.Tensor):
    pass


def _nested(depth: int) -> list:
    node: list = []
    for _ in range(depth):
        node = [node]
    return node


def _tagged_tensor() -> torch.Tensor:
    tensor = torch.ones(2)
    tensor.tag = 'x'
    return tensor


def _ordered_dict_with(attribute: str) -> collections.OrderedDict:
    mapping = collections.OrderedDict(a=1)
    setattr(mapping, attribute, 'x')
    return mapping


def _history_buffer_with_state() -> HistoryBuffer:
    buffer = HistoryBuffer([1.0], [1])
    buffer.__getstate__()  # mmengine's __getstate__ adds statistics_methods to the instance
    return buffer


def _history_buffer_2d() -> HistoryBuffer:
    buffer = HistoryBuffer([1.0], [1])
    buffer._log_history = np.zeros((1, 1))
    return buffer


def _counter_with_attribute() -> collections.Counter:
    counter = collections.Counter(a=1)
    counter.extra = 1  # type: ignore[attr-defined]
    return counter


def _metadata_with_set() -> collections.OrderedDict:
    mapping = collections.OrderedDict(a=torch.ones(1))
    mapping._metadata = {'': {1, 2}}  # type: ignore[attr-defined]
    return mapping


NOT_CANONICAL = {
    'tensor subclass': lambda: {'w': torch.ones(2).as_subclass(_Subclass)},
    'tensor with an attribute': lambda: {'w': _tagged_tensor()},
    'tensor that requires grad': lambda: {'w': torch.nn.Parameter(torch.ones(2))},
    'sparse tensor': lambda: {'w': torch.ones(2).to_sparse()},
    'meta tensor': lambda: {'w': torch.empty(2, device='meta')},
    'set': lambda: {'s': {1, 2}},
    'object': lambda: {'o': object()},
    'bytearray': lambda: [bytearray(b'x')],
    'depth 40': lambda: {'deep': _nested(40)},
    'float key': lambda: {1.5: 0},
    'wide int key': lambda: {1 << 31: 0},
    'bool key': lambda: {True: 0},
    'OrderedDict attribute': lambda: _ordered_dict_with('extra'),
    'Counter attribute': lambda: {'c': _counter_with_attribute()},
    'bad _metadata': lambda: _metadata_with_set(),
    'object array': lambda: {'a': np.array([None], dtype=object)},
    'string scalar': lambda: {'a': np.str_('x')},
    'HistoryBuffer state': lambda: {'h': _history_buffer_with_state()},
    'HistoryBuffer 2-d': lambda: {'h': _history_buffer_2d()},
}


@pytest.mark.parametrize('case', sorted(NOT_CANONICAL))
def test_the_oracle_rejects_what_is_not_canonical(case):
    problem = canonical_problem(NOT_CANONICAL[case]())
    assert problem, case


def test_the_oracle_accepts_every_kind_of_canonical_value():
    state = collections.OrderedDict(w=torch.ones(2, 3).t(), n=torch.tensor(0))
    state._metadata = {'': {'version': 1}}  # type: ignore[attr-defined]
    tree = {'state_dict': state, 'c': collections.Counter(a=2), 'k': {-(1 << 31): (1, 2.5, None, True, b'x', 's')},
            'np': [np.arange(3, dtype='>i4'), np.float16(1), np.bool_(True), np.complex64(1j)],
            'h': HistoryBuffer([1.0, 2.0], [1, 1], 5), 'deep': _nested(31), 'empty': torch.zeros(0, 1 << 40)}
    assert canonical_problem(tree) is None


def test_every_seed_is_genuine_and_its_pickle_round_trips(corpus):
    for seed in corpus.seeds:
        assert canonical_problem(load_checkpoint_bytes(seed.data, f'{seed.name}.pth')) is None, seed.name
        if seed.fmt == 'zip':
            assert assemble(seed.ops) == dict(seed.records)['archive/data.pkl'], seed.name
        elif seed.fmt == 'legacy':
            assert b''.join(seed.heads) + assemble(seed.ops) + seed.keys + seed.tail == seed.data, seed.name
    assert {seed.fmt for seed in corpus.seeds} == {'zip', 'legacy', 'safetensors'}
    assert all(seed.pids for seed in corpus.pickled)


def test_an_input_depends_only_on_the_seed_and_its_index(corpus):
    again = Corpus()
    for index in (0, 7, 123):
        assert generate(corpus, 5, index) == generate(again, 5, index)
    assert generate(corpus, 5, 0) != generate(corpus, 6, 0) or generate(corpus, 5, 1) != generate(corpus, 6, 1)


def test_a_short_run_finds_no_failure_and_reaches_deep_code(tmp_path):
    run = FuzzRun(seed=1, jobs=2, timeout=60, failures_dir=tmp_path / 'failures')
    summary = run.run(range(300))
    text = format_summary(summary)
    assert summary['inputs'] == 300 and not summary['generator_errors'], text
    assert summary['failures'] == [], text
    # Not only garbage: inputs load, and are stopped by the pickle reader, by bounds and by damage checks.
    outcomes = summary['outcomes']
    assert min(outcomes['loaded'], outcomes['refused'], outcomes['bound'], outcomes['damaged']) >= 5, text
    assert len(summary['bounds']) >= 5, text
    assert set(summary['generators']) == set(GENERATORS), text
    assert set(summary['entry_points']) == {'load_local_checkpoint', 'load_checkpoint_bytes', 'mmengine',
                                            'verify_checkpoint'}, text


def test_the_harness_notices_a_crash_and_a_hang(tmp_path):
    run = FuzzRun(seed=0, jobs=1, timeout=5, failures_dir=tmp_path, sabotage={1: 'crash', 2: 'hang'})
    summary = run.run([0, 1, 2, 3])
    kinds = {failure['index']: failure['kind'] for failure in summary['failures']}
    assert kinds == {1: 'crash', 2: 'timeout'}, format_summary(summary)
    assert summary['inputs'] == 4 and summary['worker_starts'] == 3
    assert all((tmp_path / f'0-{i:06d}-{generate(run.corpus, 0, i)[0]}.bin').is_file() for i in (1, 2))
    assert 'SIGSEGV' in summary['failures'][0]['message']
