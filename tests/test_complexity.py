import pytest

from hrnet_mm.cli import main
from hrnet_mm.complexity import count_gflops, measure, paper_table

ROWS = [('pose', r, r['num_keypoints']) for r in paper_table()['pose']] + \
       [('seg', r, r['num_classes']) for r in paper_table()['seg']]


@pytest.mark.parametrize('task, row, outputs', ROWS, ids=[f"{t}-{r['arch']}-{r['input'][0]}" for t, r, _ in ROWS])
def test_params_and_gflops_match_the_paper(task, row, outputs):
    params, gflops = measure(task, row['arch'], tuple(row['input']), outputs)
    assert abs(params - row['params_m']) <= 0.05, params
    assert abs(gflops - row['gflops']) <= 0.02 * row['gflops'], gflops


def test_gflops_scale_with_pixels_and_count_convs_only():
    from torch import nn
    conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
    assert count_gflops(conv, (3, 32, 32)) * 2**30 == 8 * 3 * 9 * 32 * 32


def test_cli_prints_the_table(capsys):
    assert main(['complexity', 'w18-small-v1', '--task', 'seg', '--input', '256x512', '--num-outputs', '19']) == 0
    out = capsys.readouterr().out
    assert '| seg | w18-small-v1 | 256x512 |' in out and '2**30' in out
