"""hrnet_mm/models/settings.py: settings resolved once per network, and checked for modules built alone."""
import pytest

from hrnet_mm.errors import ConfigError
from hrnet_mm.models import HRModule, HRNet, MultiResolutionFusion
from hrnet_mm.models import settings as settings_module


@pytest.fixture
def lookups(monkeypatch):
    names = []
    original = settings_module._norm_class

    def counting(name):
        names.append(name)
        return original(name)
    monkeypatch.setattr(settings_module, '_norm_class', counting)
    return names


@pytest.mark.parametrize('norm_cfg', [dict(type='BN'), dict(type='GN', num_groups=2), dict(type='SyncBN')])
def test_a_network_looks_its_norm_type_up_once(lookups, norm_cfg):
    model = HRNet(arch='w32', norm_cfg=norm_cfg)
    # W32 has 8 stage modules with their fusions and ~100 residual units: all share the one lookup.
    assert lookups == [norm_cfg['type']]
    assert sum(1 for _ in model.modules()) > 300


def test_modules_built_alone_still_check_their_norm(lookups):
    with pytest.raises(ConfigError, match="'NoSuchNorm' is no registered norm layer"):
        MultiResolutionFusion([4, 8], [4, 8], norm_cfg=dict(type='NoSuchNorm'))
    with pytest.raises(ConfigError, match='needs num_groups'):
        HRModule([4, 8], [4, 8], [1, 1], 'BASIC', norm_cfg=dict(type='GN'))
    assert lookups == ['NoSuchNorm', 'GN']
