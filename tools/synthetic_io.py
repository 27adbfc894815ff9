"""Shared plumbing of the synthetic dataset generators: write-once stamps and the command line."""
import argparse
import json
from pathlib import Path
from typing import Callable, Dict


def write_once(root: str, stamp: dict, write: Callable[[Path], None]) -> Path:
    """Call ``write(root)`` unless ``root/meta.json`` already records the same ``stamp``; returns root."""
    out = Path(root)
    meta = out / 'meta.json'
    stamp = json.loads(json.dumps(stamp))  # tuples -> lists, as they come back from the file
    if meta.exists() and json.loads(meta.read_text()) == stamp:
        return out
    out.mkdir(parents=True, exist_ok=True)
    write(out)
    meta.write_text(json.dumps(stamp))
    return out


def cli(doc: str, default_root: str, defaults: Dict[str, int], generate: Callable[..., Path]) -> None:
    """``--root`` plus one integer flag per entry of ``defaults`` (e.g. train, val, seed), then generate."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--root', default=default_root)
    for name, value in defaults.items():
        parser.add_argument(f'--{name}', type=int, default=value)
    args = vars(parser.parse_args())
    print(generate(args.pop('root'), **args))
