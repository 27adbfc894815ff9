"""Run an OpenMMLab tool script (train.py / test.py) in this process, CPU-safe.

``python -m hrnet_mm.launch TOOL.py [tool args]``. mmengine's PyTorch launcher calls
``torch.cuda.set_device(local_rank)`` unconditionally, which raises on hosts without a CUDA driver;
there the call is made a no-op so that torchrun + gloo trains on CPU. After a distributed tool ran to
the end, every rank meets at a barrier, closes the process group and leaves without the
interpreter's teardown: gloo's background threads, destroyed there while a peer closes its side, can
abort a finished run (SIGABRT, "terminate called without an active exception").
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
        torch.cuda.set_device = lambda device: None  # CPU-only host: no device to select
    tool = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(tool, run_name='__main__')
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()  # no rank tears its side down while another still talks
        torch.distributed.destroy_process_group()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # the tool finished; skip static destructors of the communication threads


if __name__ == '__main__':
    main()
