"""Training data: webdataset shards of image-text pairs, split across ranks and loader workers."""
from functools import partial

import numpy as np
import torch
import webdataset as wds
from detectron2.utils import comm

from .image_text_mapper import ImageTextDatasetMapper
from .shards import EpochShardList, resolve_shards
from .skips import DataWatchdog


def build_image_text_train_loader(cfg, mapper=None) -> torch.utils.data.DataLoader:
    """An infinite loader of per-rank batches: ``list[dict]`` of ``IMS_PER_BATCH / world_size`` inputs.

    Unusable samples are skipped and counted by reason, and a worker that cannot form a batch ends
    with a ``stalled`` batch (see :mod:`pseg_d2.data.skips`); wrap the loader in
    :class:`SkipAccounting` to total the counts and stop on a stall.
    """
    world_size = comm.get_world_size()
    if cfg.SOLVER.IMS_PER_BATCH % world_size:
        raise ValueError(f"SOLVER.IMS_PER_BATCH={cfg.SOLVER.IMS_PER_BATCH} is not divisible by {world_size} ranks.")
    batch_size = cfg.SOLVER.IMS_PER_BATCH // world_size
    mapper = mapper if mapper is not None else ImageTextDatasetMapper(cfg)
    urls = resolve_shards(cfg.DATASETS.IMAGE_TEXT.SHARDS)
    seed = cfg.SEED if cfg.SEED >= 0 else 0
    watchdog = DataWatchdog(cfg.DATALOADER.MAX_SKIPS_WITHOUT_BATCH)  # each worker counts in its own copy
    pipeline = wds.DataPipeline(
        EpochShardList(urls, seed=seed),
        watchdog.shards,
        wds.tarfile_to_samples(handler=watchdog.shard_handler),
        watchdog.unique_samples,
        wds.shuffle(cfg.DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER, seed=seed),
        wds.map(mapper, handler=watchdog.sample_handler),
        partial(watchdog.batches, batch_size=batch_size),
    )
    num_workers = cfg.DATALOADER.NUM_WORKERS
    return torch.utils.data.DataLoader(
        pipeline, batch_size=None, num_workers=num_workers, persistent_workers=num_workers > 0,
        worker_init_fn=_seed_worker, generator=torch.Generator().manual_seed(seed),
    )


def restart_data_order(loader: torch.utils.data.DataLoader, iteration: int) -> None:
    """Before a resumed run's first batch: draw a shard order of its own (seeded by ``iteration``)
    instead of reading the first run's first shards again. Not used when the data is replayed."""
    shard_list = loader.dataset.pipeline[0]
    assert isinstance(shard_list, EpochShardList), type(shard_list)
    shard_list.seed += iteration


def _seed_worker(worker_id: int) -> None:
    """Distinct, reproducible augmentation RNG per rank and worker (the loader's generator fixes
    ``torch.initial_seed()`` of each worker)."""
    seed = torch.initial_seed() % 2**31 + 1000 * comm.get_rank()
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
