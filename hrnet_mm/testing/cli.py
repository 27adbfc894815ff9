"""What the CLI tests share."""
from typing import List


def one_line_cli_error(argv: List[str], capsys) -> str:
    """Run ``hrnet-mm argv``; assert it ends in one line on stderr and exit status 2; return that line."""
    from hrnet_mm.cli import main
    status: object
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1, err
    return err
