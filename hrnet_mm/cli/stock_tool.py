"""What ``tools/train.py`` and ``tools/test.py`` run (shipped as ``hrnet_mm/.mim/tools/``, which ``mim`` calls).

``python tools/train.py CONFIG [ARGS...]`` picks the library from the config's ``default_scope`` and
runs that library's own ``tools/train.py`` with the same arguments, in this process, through
:mod:`hrnet_mm.launch` (CPU-safe). Importing hrnet_mm first is what lets the config inherit
``hrnet_mm::`` bases; CONFIG may also be a packaged name (``hrnet_seg/<name>.py``). Plain mistakes
(no such config, a config of no library hrnet_mm drives, a stack that lacks a fix the library needs)
end in one line and exit status 2.
"""
import sys
from typing import List, Optional

USAGE = """usage: {tool}.py CONFIG [ARGS...]

{what} with the stock tools/{tool}.py of the library the config belongs to (its default_scope:
mmseg, mmpose, mmdet or mmpretrain); ARGS go to that tool unchanged. CONFIG is a path, a packaged name
(hrnet_seg/<name>.py) or a hrnet_mm:: / mmseg:: ... name; it may inherit hrnet_mm:: configs.

example: {example}
the stock tool's own options: {tool}.py CONFIG --help
"""
WHAT = {'train': 'Train a config', 'test': 'Evaluate a checkpoint'}
EXAMPLES = {
    'train': 'mim train hrnet_mm hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py --work-dir work_dirs/x',
    'test': 'mim test hrnet_mm hrnet_seg/fcn_hrnetv2-w18s-v1_1xb8-800it_synthetic-128x128.py --checkpoint x.pth',
}


def main(tool: str, argv: Optional[List[str]] = None) -> int:
    """Run the stock ``tools/<tool>.py`` of the config's library; returns the exit status (2: a plain mistake)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(USAGE.format(tool=tool, what=WHAT[tool], example=EXAMPLES[tool]), end='')
        return 0
    import hrnet_mm  # noqa: F401  (hrnet_mm:: bases resolve from here on)
    from hrnet_mm import launch
    from hrnet_mm.apis import library_of
    from hrnet_mm.config_lookup import load_config, resolve_config
    from hrnet_mm.environment import LOGGED, missing_piece, problems
    from hrnet_mm.errors import SetupError, one_line

    from . import USAGE_ERRORS
    from .runner import tool_path
    try:
        config = resolve_config(argv[0])
        library = library_of(load_config(config)).name
        missing = problems(library)
        if missing:
            raise SetupError(missing[0])
        script = tool_path(library, tool)
    except USAGE_ERRORS as err:
        if str(err) not in LOGGED:  # a stack problem was said in one line already, when hrnet_mm was imported
            print(f'{tool}.py: {one_line(err)}', file=sys.stderr)
        return 2
    except ImportError as err:
        piece = missing_piece(err)
        if piece is None:
            raise
        print(f'{tool}.py: {piece}', file=sys.stderr)
        return 2
    sys.argv = ['hrnet_mm.launch', str(script), config, *argv[1:]]
    launch.main()
    return 0
