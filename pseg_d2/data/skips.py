"""Counting the samples and shards that training skips, by reason, across loader workers.

Each loader worker counts its skips in a process-local counter; every batch it emits carries the
counts since its previous batch (``SkipCountedBatch.skipped``), so the training process can add
them up, log them and stop a run whose data is mostly broken.
"""
import logging
from collections import Counter
from typing import Dict, Iterable, Iterator, List

logger = logging.getLogger(__name__)

_WORKER_SKIPS: Counter = Counter()


class SkipSample(Exception):
    """Raised by the mapper for a sample that cannot be used; ``reason`` is a short snake_case tag."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def count_and_continue(exn: Exception) -> bool:
    """webdataset handler: count the failure (by ``SkipSample.reason`` or exception type), keep going."""
    if isinstance(exn, SkipSample):
        _WORKER_SKIPS[exn.reason] += 1
        logger.debug("skipped a sample: %s", exn)
    else:
        _WORKER_SKIPS[f"error_{type(exn).__name__}"] += 1
        logger.warning("skipped after %s", repr(exn)[:500])
    return True


def count_shard_error_and_continue(exn: Exception) -> bool:
    """webdataset handler for the tar stage: a truncated or unreadable shard is named in a warning;
    the samples read from it before the error are kept."""
    _WORKER_SKIPS["shard_error"] += 1
    logger.warning("shard error, going on with the next shard: %s", repr(exn)[:500])
    return True


class SkipCountedBatch(list):
    """A batch (list of inputs) with ``skipped``: {reason: count} since the worker's previous batch."""

    skipped: Dict[str, int] = {}


def batch_with_skip_counts(samples: Iterable[dict], batch_size: int) -> Iterator[SkipCountedBatch]:
    """webdataset stage: group samples into full batches and attach the worker's new skip counts."""
    reported = Counter(_WORKER_SKIPS)  # counts of earlier pipelines in this process are not ours
    batch: List[dict] = []
    for sample in samples:
        batch.append(sample)
        if len(batch) == batch_size:
            out = SkipCountedBatch(batch)
            out.skipped = dict(_WORKER_SKIPS - reported)
            reported = Counter(_WORKER_SKIPS)
            yield out
            batch = []


class SkipAccounting:
    """Wraps a loader of :class:`SkipCountedBatch`: totals skips by reason, and raises once more than
    ``max_skip_fraction`` of the samples read so far (after ``min_samples``) were skipped."""

    def __init__(self, loader: Iterable, max_skip_fraction: float, min_samples: int = 1000):
        self.loader = loader
        self.max_skip_fraction = max_skip_fraction
        self.min_samples = min_samples
        self.skipped: Counter = Counter()
        self.used = 0

    def __iter__(self) -> Iterator[List[dict]]:
        for batch in self.loader:
            self.skipped.update(getattr(batch, "skipped", {}))
            self.used += len(batch)
            self.check()
            yield list(batch)

    def skip_used(self, reason: str, count: int) -> None:
        """Count ``count`` samples of batches already yielded as skipped for ``reason`` instead of used
        (they failed after the loader, e.g. JPEGs that did not decode on the GPU)."""
        self.used -= count
        self.skipped[reason] += count
        self.check()

    @property
    def skip_fraction(self) -> float:
        total = self.used + sum(self.skipped.values())
        return sum(self.skipped.values()) / total if total else 0.0

    def check(self) -> None:
        total = self.used + sum(self.skipped.values())
        if total >= self.min_samples and self.skip_fraction > self.max_skip_fraction:
            raise RuntimeError(
                f"{self.skip_fraction:.1%} of the {total} training samples read so far were skipped "
                f"(DATALOADER.MAX_SKIP_FRACTION={self.max_skip_fraction}): {dict(self.skipped)}. Is the data broken?"
            )
