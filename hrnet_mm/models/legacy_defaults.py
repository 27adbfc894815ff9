"""What each library's own HRNet does when it is given only the stock arguments.

The backbone (a legacy ``extra``) and the HRModule (the stock signature) both fill what the caller
left out from the library whose registry scope is current, so a stock config switched by ``type``
alone computes the stock function.
"""
from typing import Dict, Optional

LEGACY_DEFAULTS: Dict[str, dict] = {
    'mmseg': dict(upsample_cfg=dict(mode='bilinear', align_corners=False)),  # mmseg resizes bilinearly
    'mmpose': dict(multiscale_output=False),  # mmpose's HRNet fuses into the highest resolution only
    'mmdet': dict(norm_eval=True),  # mmdet's HRNet freezes BN statistics unless told otherwise
}


def scope_defaults(scope: Optional[str] = None) -> dict:
    """The stock defaults of ``scope`` (default: mmengine's current registry scope); {} for others."""
    if scope is None:
        from mmengine.registry import DefaultScope
        current = DefaultScope.get_current_instance()
        scope = current.scope_name if current is not None else None
    return LEGACY_DEFAULTS.get(scope or '', {})
