"""Run an OpenMMLab tool script (train.py / test.py) in this process, CPU-safe.

``python -m hrnet_mm.launch TOOL.py [tool args]``: what ``hrnet-mm train`` / ``test`` run, alone or
under torchrun / srun. It differs from ``python TOOL.py`` in two places, each explained where it is
made: on a host without CUDA, ``torch.cuda.set_device`` is a no-op; after a distributed tool has
finished, the ranks meet, close the process group and exit without the interpreter's teardown.
"""
import logging
import os
import runpy
import sys

import torch


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit('usage: python -m hrnet_mm.launch TOOL.py [args...]')
    if not torch.cuda.is_available():
        # mmengine's pytorch and slurm launchers call torch.cuda.set_device(local_rank) with no switch to
        # skip it, and it raises without a driver; a no-op is the only way to let gloo train on CPU.
        torch.cuda.set_device = lambda device: None
    tool = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(tool, run_name='__main__')
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()  # no rank tears its side down while another still talks
        torch.distributed.destroy_process_group()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        # The tool has finished and everything is flushed. gloo's threads can still abort (SIGABRT) in the
        # interpreter's teardown after destroy_process_group, failing a finished run, so that teardown is skipped.
        os._exit(0)


if __name__ == '__main__':
    main()
