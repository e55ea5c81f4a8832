"""Process groups: jobs started by torchrun or by Detectron2's ``launch``, and their teardown."""
import os
import sys
from typing import Callable, Tuple, Type

import torch
import torch.distributed as dist
from detectron2.engine.launch import DEFAULT_TIMEOUT, launch
from detectron2.utils import comm


def started_by_torchrun() -> bool:
    """Whether ``torchrun`` (``python -m torch.distributed.run``) or another env:// launcher started
    this process: it set ``LOCAL_RANK`` and ``WORLD_SIZE``."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def launch_from_env(main_func, args=()):
    """Detectron2's ``launch`` for a process that torchrun started: join the process group from the
    environment (``env://``: ``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE``), NCCL on GPUs
    (device ``LOCAL_RANK``) or gloo, set Detectron2's per-machine group (``LOCAL_WORLD_SIZE``
    processes), then run ``main_func(*args)``."""
    world_size = int(os.environ["WORLD_SIZE"])
    if world_size > 1:
        has_gpu = torch.cuda.is_available()
        if has_gpu:
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
        dist.init_process_group(backend="nccl" if has_gpu else "gloo", init_method="env://", timeout=DEFAULT_TIMEOUT)
        comm.create_local_process_group(int(os.environ.get("LOCAL_WORLD_SIZE", world_size)))
        comm.synchronize()
    return main_func(*args)


def launch_tool(main_func: Callable, args, one_line_errors: Tuple[Type[Exception], ...] = ()):
    """Run a tool's ``main_func(args)`` as it was started: in the processes torchrun started
    (:func:`launch_from_env`), or in those Detectron2's ``launch`` starts from ``args.num_gpus``,
    ``num_machines``, ``machine_rank`` and ``dist_url`` (``default_argument_parser``'s flags). An
    exception of ``one_line_errors`` ends the program with its one-line message (exit status 1)."""
    try:
        if started_by_torchrun():  # --num-gpus / --num-machines are then not used
            return launch_from_env(main_func, args=(args,))
        return launch(main_func, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
                      dist_url=args.dist_url, args=(args,))
    except one_line_errors as err:
        sys.exit(f"error: {err}")


def finish_distributed():
    """Wait for every rank, then destroy the process group.

    Detectron2's ``launch`` returns as soon as a rank's main function does; a rank that exits while
    another is still inside a gloo collective (e.g. the all-gather backward) aborts the peer with
    "terminate called without an active exception". Call this at the end of a launched main.
    """
    if dist.is_available() and dist.is_initialized():
        comm.synchronize()
        dist.destroy_process_group()
