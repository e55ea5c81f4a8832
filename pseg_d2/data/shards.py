"""Training shard lists: every form of ``DATASETS.IMAGE_TEXT.SHARDS`` resolved to URLs webdataset opens,
and the endless shard stream split over ranks and loader workers.

An entry of ``SHARDS`` is one of:

- a local path, a brace pattern (``data/cc3m/{00000..00331}.tar``) or a glob (``data/*/shard-*.tar``);
- a ``.txt`` file listing such entries, one per line;
- a URL webdataset opens itself: ``http(s)://`` (curl), ``gs://`` (``gsutil cat``), ``file://``, ...;
- ``s3://bucket/key``, read through the AWS command line (``aws s3 cp URL -``): it takes the cluster's
  credentials, profiles and ``AWS_ENDPOINT_URL`` (MinIO, Ceph, ...) as every other AWS tool does;
- any ``pipe:`` command writing a tar to stdout (``pipe:hdfs dfs -cat /x.tar``, ``pipe:s5cmd cat s3://...``).

Brace patterns expand in every form. Only local paths are checked for existence up front.
"""
import glob
import os
import shlex
from typing import Iterator, List, Sequence

import braceexpand
import numpy as np
import torch
from detectron2.utils import comm

GLOB_CHARS = "*?["


def _is_url(spec: str) -> bool:
    return spec.startswith("pipe:") or "://" in spec


def _expand_one(spec: str) -> List[str]:
    if spec.endswith(".txt") and not _is_url(spec):
        with open(spec) as f:
            return expand_shards([line.strip() for line in f if line.strip()], allow_empty=True)
    urls = []
    for url in braceexpand.braceexpand(spec):
        if url.startswith("s3://"):
            urls.append(f"pipe:aws s3 cp {shlex.quote(url)} -")
        elif not _is_url(url) and any(c in url for c in GLOB_CHARS):
            # A glob that matches nothing stays as it is, so that the existence check names it.
            urls.extend(sorted(glob.glob(url)) or [url])
        else:
            urls.append(url)
    return urls


def expand_shards(specs: Sequence[str], allow_empty: bool = False) -> List[str]:
    """Shard entries (see the module's docstring) -> the URLs webdataset opens, in the given order."""
    urls = [url for spec in specs for url in _expand_one(spec.strip())]
    if not urls and not allow_empty:
        raise ValueError("DATASETS.IMAGE_TEXT.SHARDS names no shards.")
    return urls


def resolve_shards(specs: Sequence[str]) -> List[str]:
    """:func:`expand_shards`, then a clear error when a local shard does not exist (URLs and ``pipe:``
    commands are opened, and their failures counted, while reading)."""
    urls = expand_shards(specs)
    missing = [u for u in urls if not _is_url(u) and not os.path.exists(u)]
    if missing:
        raise FileNotFoundError(f"{len(missing)} of {len(urls)} shards do not exist, e.g. {missing[0]!r}")
    return urls


class EpochShardList(torch.utils.data.IterableDataset):
    """Yields ``{"url": shard, "epoch": e}`` forever from one endless stream: epoch ``e`` appends all shards in the
    order drawn with ``seed + e``. Reader ``k = rank * W + worker`` of ``R * W`` takes the stream's items
    ``k, k + R*W, k + 2*R*W, ...``: within an epoch no two readers share a shard, every reader reads
    the same number of shards over any ``R*W`` consecutive epochs, and the remainder of an epoch
    (``num_shards % (R*W)`` shards) falls to different readers in turn (5 shards, 2 readers: 3 + 2,
    then 2 + 3)."""

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
        position, epoch = self.rank * num_workers + worker, -1
        while True:
            if position // len(self.urls) != epoch:
                epoch = position // len(self.urls)
                order = np.random.default_rng(self.seed + epoch).permutation(len(self.urls))
            yield {"url": self.urls[order[position % len(self.urls)]], "epoch": epoch}
            position += readers
