"""``WarmupPolyLR`` (this Detectron2 has none): linear warm-up, then lr * (1 - t / T) ** power."""
from detectron2.solver.lr_scheduler import LRMultiplier, WarmupParamScheduler
from fvcore.common.param_scheduler import PolynomialDecayParamScheduler


def build_warmup_poly_lr_scheduler(cfg, optimizer) -> LRMultiplier:
    """Every param group's initial lr times the schedule: SOLVER.WARMUP_ITERS of warm-up from
    WARMUP_FACTOR (WARMUP_METHOD), then polynomial decay with SOLVER.POLY_LR_POWER to 0 at MAX_ITER."""
    schedule = WarmupParamScheduler(
        PolynomialDecayParamScheduler(1.0, cfg.SOLVER.POLY_LR_POWER),
        cfg.SOLVER.WARMUP_FACTOR,
        min(cfg.SOLVER.WARMUP_ITERS / cfg.SOLVER.MAX_ITER, 1.0),
        cfg.SOLVER.WARMUP_METHOD,
    )
    return LRMultiplier(optimizer, multiplier=schedule, max_iter=cfg.SOLVER.MAX_ITER)
