"""Run an OpenMMLab tool script (train.py / test.py) in this process, CPU-safe.

``python -m hrnet_mm.launch TOOL.py [tool args]``. mmengine's PyTorch launcher calls
``torch.cuda.set_device(local_rank)`` unconditionally, which raises on hosts without a CUDA driver;
there the call is made a no-op so that torchrun + gloo trains on CPU. After a tool that ran to the
end, the process group it opened is closed while the interpreter is still whole: a gloo group left
open can abort the process (SIGABRT) during interpreter shutdown, failing a finished run.
"""
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
        torch.distributed.destroy_process_group()


if __name__ == '__main__':
    main()
