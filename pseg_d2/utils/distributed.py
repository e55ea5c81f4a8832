"""Process-group teardown for jobs started with Detectron2's ``launch``."""
import torch.distributed as dist
from detectron2.utils import comm


def finish_distributed():
    """Wait for every rank, then destroy the process group.

    Detectron2's ``launch`` returns as soon as a rank's main function does; a rank that exits while
    another is still inside a gloo collective (e.g. the all-gather backward) aborts the peer with
    "terminate called without an active exception". Call this at the end of a launched main.
    """
    if dist.is_available() and dist.is_initialized():
        comm.synchronize()
        dist.destroy_process_group()
