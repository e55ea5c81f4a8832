"""Training data: webdataset shards of image-text pairs, split across ranks and loader workers."""
import os
from functools import partial
from typing import Iterator, List, Sequence

import braceexpand
import numpy as np
import torch
import webdataset as wds
from detectron2.utils import comm

from .image_text_mapper import ImageTextDatasetMapper
from .skips import DataWatchdog


def expand_shards(specs: Sequence[str]) -> List[str]:
    """Brace-expand shard patterns; an entry ending in ``.txt`` is a file listing one shard per line."""
    urls = []
    for spec in specs:
        if spec.endswith(".txt"):
            with open(spec) as f:
                urls.extend(line.strip() for line in f if line.strip())
        else:
            urls.extend(braceexpand.braceexpand(spec))
    if not urls:
        raise ValueError("DATASETS.IMAGE_TEXT.SHARDS names no shards.")
    return urls


class EpochShardList(torch.utils.data.IterableDataset):
    """Yields ``{"url": shard, "epoch": epoch}`` forever: each epoch reshuffles all shards with
    ``seed + epoch``, then hands rank r of R, worker w of W the shards ``r*W + w`` modulo ``R*W``, so no
    two readers share one."""

    def __init__(self, urls: Sequence[str], seed: int = 0):
        super().__init__()
        self.urls = list(urls)
        self.seed = seed
        self.rank, self.world_size = comm.get_rank(), comm.get_world_size()

    def __iter__(self) -> Iterator[dict]:
        info = torch.utils.data.get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        readers = self.world_size * num_workers
        if len(self.urls) < readers:
            raise ValueError(
                f"{len(self.urls)} shards cannot feed {self.world_size} ranks x {num_workers} workers: "
                "write more shards or lower DATALOADER.NUM_WORKERS."
            )
        reader = self.rank * num_workers + worker
        epoch = 0
        while True:
            order = np.random.default_rng(self.seed + epoch).permutation(len(self.urls))
            for index in order[reader::readers]:
                yield {"url": self.urls[index], "epoch": epoch}
            epoch += 1


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
    urls = expand_shards(cfg.DATASETS.IMAGE_TEXT.SHARDS)
    missing = [u for u in urls if "://" not in u and not os.path.exists(u)]
    if missing:
        raise FileNotFoundError(f"{len(missing)} of {len(urls)} shards do not exist, e.g. {missing[0]!r}")
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
