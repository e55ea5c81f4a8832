"""Random state as a function of the iteration, so a resumed run draws what an uninterrupted one did."""
import random

import numpy as np
import torch
from detectron2.engine import HookBase
from detectron2.utils import comm


def step_seed(base_seed: int, rank: int, iteration: int) -> int:
    """A well-mixed 32-bit seed for one (run, rank, iteration)."""
    return int(np.random.SeedSequence([base_seed, rank, iteration]).generate_state(1)[0])


class StepSeedHook(HookBase):
    """Before every step, seeds Python, NumPy and torch (all devices) from ``(base_seed, rank, iteration)``.

    Dropout, augmentations run in the main process, and any other draw of a step then depend only on
    the iteration, not on how many steps this process has run. ``base_seed`` is saved with the
    trainer's checkpoint, so a run started with a random ``SEED`` (< 0) resumes with the same one.
    """

    def __init__(self, base_seed: int):
        self.base_seed = base_seed

    def before_step(self):
        seed = step_seed(self.base_seed, comm.get_rank(), self.trainer.iter)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)

    def state_dict(self):
        return {"base_seed": self.base_seed}

    def load_state_dict(self, state_dict):
        self.base_seed = state_dict["base_seed"]
