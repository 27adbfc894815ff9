"""Config text stored inside checkpoints is data: keep it only if it is plain config data.

mmengine writes a run's config into its checkpoints as Python text (``Config.pretty_text``) and
executes that text again: ``Runner.resume`` reads ``meta['config']``, and its inferencers given only
``weights=`` read ``message_hub.runtime_info['cfg']`` or ``meta['cfg']``. A file holding only
strings could therefore run code. What mmengine writes is ``name = <literal>`` lines whose values
are numbers, strings, ``True``/``False``/``None``, lists, tuples, dict displays and ``dict(k=v)``
calls; :func:`plain_config_problem` accepts exactly that and :func:`drop_unsafe_config_text` removes
any other text from a loaded checkpoint before mmengine sees it.
"""
import ast
import sys
from typing import Any, Iterator, List, Optional, Tuple

from mmengine.logging import print_log

from hrnet_mm.errors import CheckpointError

from .bounds import Budget

# Where mmengine keeps config text in a checkpoint: (container path, key).
CONFIG_TEXT_PLACES: Tuple[Tuple[Tuple[str, ...], str], ...] = (
    (('meta',), 'cfg'), (('meta',), 'config'), (('message_hub', 'runtime_info'), 'cfg'))
# Names whose values mmengine acts on when it parses the text, beyond building a config dict.
_BASE_NAMES = frozenset({'_base_', '_delete_', '_deprecation_'})
_LITERALS = (ast.Constant, ast.List, ast.Tuple, ast.Set)
# Longest config text that is checked at all (mmengine's are tens of KB); longer text is dropped.
MAX_CONFIG_TEXT = 1 << 20
# Bytes Python's parser may take per character of text (measured: ~330 for a long list of small ints).
PARSE_COST = 400


def _plain_value_problem(node: ast.AST) -> Optional[str]:
    if isinstance(node, ast.Constant):
        return None
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return next(filter(None, map(_plain_value_problem, node.elts)), None)
    if isinstance(node, ast.Dict):
        for key, value in zip(node.keys, node.values):
            if key is None or not isinstance(key, ast.Constant):
                return 'a dict key that is not a literal'
            problem = _plain_value_problem(value)
            if problem:
                return problem
        return None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)) \
            and isinstance(node.operand, ast.Constant):
        return None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'dict' and not node.args:
        for keyword in node.keywords:
            if keyword.arg is None:
                return 'dict(**...)'
            problem = _plain_value_problem(keyword.value)
            if problem:
                return problem
        return None
    return f'{type(node).__name__} at line {getattr(node, "lineno", "?")}'


def _imported_modules(node: ast.AST) -> Iterator[Any]:
    """The module names a ``custom_imports = dict(imports=[...])`` value asks mmengine to import."""
    entries: List[Tuple[Any, ast.AST]] = []
    if isinstance(node, ast.Call):
        entries = [(k.arg, k.value) for k in node.keywords]
    elif isinstance(node, ast.Dict):
        entries = [(getattr(k, 'value', None), v) for k, v in zip(node.keys, node.values)]
    for key, value in entries:
        if key == 'imports':
            literal = ast.literal_eval(value)
            yield from ([literal] if isinstance(literal, str) else literal)


def plain_config_problem(text: Any) -> Optional[str]:
    """Why ``text`` is not plain config data, or None when it is.

    Plain: ``name = value`` statements whose values are literals, lists, tuples, dict displays and
    ``dict(key=value)`` calls; no ``_base_`` (it would read other files); ``custom_imports`` only of
    modules this process has already imported (parsing the text imports them).

    Example:
        >>> plain_config_problem("model = dict(type='EncoderDecoder', depth=-1, pads=[0, (1, 2)])") is None
        True
        >>> plain_config_problem("x = __import__('os').system('id')")
        'Call at line 1'
    """
    if not isinstance(text, str):
        return f'a {type(text).__name__}, not text'
    if len(text) > MAX_CONFIG_TEXT:
        return f'longer than {MAX_CONFIG_TEXT:,} characters'
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as err:
        # the parser raises MemoryError / RecursionError for text nested past its own limits
        return f'not Python: {err.__class__.__name__}'
    for statement in tree.body:
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)):
            return f'{type(statement).__name__} at line {statement.lineno}'
        name = statement.targets[0].id
        if name in _BASE_NAMES:
            return f'{name} at line {statement.lineno}'
        try:
            problem = _plain_value_problem(statement.value)
        except RecursionError:
            return f'values nested too deep at line {statement.lineno}'
        if problem:
            return problem
        if name == 'custom_imports':
            try:
                modules = list(_imported_modules(statement.value))
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return 'custom_imports that is not a list of module names'
            new = [m for m in modules if not isinstance(m, str) or m not in sys.modules]
            if new:  # named without repr(): a huge int in the text would not even print
                shown = [m[:60] if isinstance(m, str) else f'a {type(m).__name__}' for m in new[:5]]
                return f'custom_imports of modules not imported here: {shown}'
    return None


def config_texts(checkpoint: dict) -> Iterator[Tuple[str, dict, str]]:
    """``(where, container, key)`` for each config text a checkpoint holds, ``where`` as ``meta.cfg``."""
    for path, key in CONFIG_TEXT_PLACES:
        container: Any = checkpoint
        for part in path:
            container = dict.get(container, part) if isinstance(container, dict) else None
        if isinstance(container, dict) and dict.__contains__(container, key):
            yield '.'.join(path + (key,)), container, key


def drop_unsafe_config_text(checkpoint: dict, source: str, budget: Optional[Budget] = None) -> dict:
    """Remove, in place, config text mmengine would execute unless it is plain config data.

    Args:
        checkpoint: A loaded checkpoint.
        source: The file or URL, for the warning.
        budget: The load's memory ledger: text whose parse would pass it is dropped unparsed.

    Returns:
        dict: ``checkpoint``.
    """
    for where, container, key in list(config_texts(checkpoint)):
        text = dict.__getitem__(container, key)
        try:
            if budget is not None and isinstance(text, str) and len(text) <= MAX_CONFIG_TEXT:
                budget.charge(len(text) * PARSE_COST, f'parsing {where}')
            problem = plain_config_problem(text)
        except CheckpointError:
            problem = 'too large to parse within the loading bound (memory)'
        except Exception as err:  # noqa: BLE001  (text is the file's: the check must not fail with it)
            problem = f'it could not be checked ({type(err).__name__})'
        if problem:
            del container[key]  # a canonical dict or OrderedDict: its own method is the type's
            print_log(f'dropped {where} from {source}: mmengine would execute it and it is not plain config '
                      f'data ({problem})', logger='current', level=30)
    return checkpoint
