"""Counting the samples and shards that training skips, by reason, and stopping a run whose data
yields no batch.

A :class:`DataWatchdog` provides the counting stages of the loader's webdataset pipeline; each
loader worker holds its own copy. Every batch it emits carries the skip counts since its previous
batch (``SkipCountedBatch.skipped``), so the training process can add them up, log them and stop a
run whose data is mostly broken (:class:`SkipAccounting`). A worker that cannot form a batch
(``max_skips_without_batch`` samples skipped in a row, or a whole pass over its shards without a
sample) emits a last, empty batch whose ``stalled`` says why, and :class:`SkipAccounting` stops
training with the counts by reason and what to check, instead of waiting forever.
"""
import logging
import math
import time
from collections import Counter
from typing import Dict, Iterable, Iterator, List

logger = logging.getLogger(__name__)

# What to check when most samples are skipped for a reason.
HINTS = {
    "undecodable_image": "the images are truncated or not JPEG, PNG, WebP or GIF",
    "missing_image": "each sample needs a <key>.jpg, .jpeg, .png, .webp or .gif member",
    "missing_caption": "each sample needs a <key>.txt member, or a <key>.json with a 'caption'",
    "empty_caption": "the captions are empty",
    "shard_error": "the shards are not readable tar files",
    "duplicate_key": "the shards repeat sample keys (samples written twice into one tar)",
    "no_samples": "the shards hold no samples (empty tar files)",
}


class SkipSample(Exception):
    """Raised by the mapper for a sample that cannot be used; ``reason`` is a short snake_case tag."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class DataStalled(RuntimeError):
    """The training data yields no batch; the message gives the skip counts and what to check."""


class SkipCountedBatch(list):
    """A batch (list of inputs) with ``skipped``: {reason: count} since the worker's previous batch;
    ``stalled`` is non-empty on the last, empty batch of a worker that cannot form one."""

    skipped: Dict[str, int] = {}
    stalled: str = ""


class DataWatchdog:
    """The counting stages of one loader worker's pipeline (see :func:`build_image_text_train_loader`).

    Args:
        max_skips_without_batch: the worker stops (a ``stalled`` batch) after this many skips in a row
            without forming a batch.
        log_period: seconds between two log lines of skipped samples (the first of each reason is always
            logged); every line carries the worker's running counts, which stay exact.
    """

    def __init__(self, max_skips_without_batch: int = 10_000, log_period: float = 30.0):
        if max_skips_without_batch < 1:
            raise ValueError(f"DATALOADER.MAX_SKIPS_WITHOUT_BATCH must be >= 1, got {max_skips_without_batch}")
        self.max_skips_without_batch = max_skips_without_batch
        self.log_period = log_period
        self.skipped: Counter = Counter()  # this worker's skips by reason
        self.read = 0  # samples read from shards
        self._reported: Counter = Counter()  # counts already sent with a batch
        self._shard = 0  # shards opened so far; samples of one shard share the number
        self._last_log = -math.inf

    # ------------------------------------------------------------ counting
    def count_skip(self, reason: str, detail: str = "", level: int = logging.DEBUG) -> None:
        """Count one skip; raise :class:`DataStalled` once too many came in a row without a batch."""
        first = reason not in self.skipped
        self.skipped[reason] += 1
        now = time.monotonic()
        if first or now - self._last_log >= self.log_period:
            self._last_log = now
            logger.log(level, "skipped (%s%s); skipped so far in this loader worker: %s",
                       reason, f": {detail[:300]}" if detail else "", dict(self.skipped))
        in_a_row = self.skipped - self._reported
        if sum(in_a_row.values()) >= self.max_skips_without_batch:
            checks = "; ".join(HINTS.get(r, r) for r, _ in in_a_row.most_common(2))
            raise DataStalled(f"a loader worker skipped {sum(in_a_row.values())} samples in a row without forming "
                              f"a batch (DATALOADER.MAX_SKIPS_WITHOUT_BATCH); check: {checks}")

    def sample_handler(self, exn: Exception) -> bool:
        """webdataset handler of the mapping stage: count the failure (by ``SkipSample.reason`` or
        exception type), keep going."""
        if isinstance(exn, SkipSample):
            self.count_skip(exn.reason, exn.detail)
        else:
            self.count_skip(f"error_{type(exn).__name__}", repr(exn), logging.WARNING)
        return True

    def shard_handler(self, exn: Exception) -> bool:
        """webdataset handler of the tar stage: a truncated or unreadable shard is named in a warning
        (the samples read from it before the error are kept); a file name repeated next to itself in
        a tar is a duplicate key."""
        reason = "duplicate_key" if "duplicate file name" in str(exn) else "shard_error"
        self.count_skip(reason, repr(exn), logging.WARNING)
        return True

    # ------------------------------------------------------------ pipeline stages
    def shards(self, items: Iterable[dict]) -> Iterator[dict]:
        """Stage after the shard list (``{"url", "epoch"}``): stops the worker when a whole epoch of
        its shards yielded no sample."""
        epoch, read_at_epoch, shards_in_epoch = None, self.read, 0
        for item in items:
            if item.get("epoch") != epoch:
                if epoch is not None and self.read == read_at_epoch:
                    hint = HINTS["shard_error" if self.skipped["shard_error"] else "no_samples"]
                    raise DataStalled(f"a whole pass over a loader worker's {shards_in_epoch} shard(s) read no "
                                      f"sample; check: {hint}")
                epoch, read_at_epoch, shards_in_epoch = item.get("epoch"), self.read, 0
            shards_in_epoch += 1
            self._shard += 1
            yield item

    def unique_samples(self, samples: Iterable[dict]) -> Iterator[dict]:
        """Stage after the tar stage: counts the samples read, and skips a sample whose key came
        earlier in the same shard (``duplicate_key``)."""
        shard, keys = None, set()
        for sample in samples:
            self.read += 1
            if self._shard != shard:  # the shards stage numbers a shard before its samples arrive
                shard, keys = self._shard, set()
            key = sample.get("__key__")
            if key in keys:
                self.count_skip("duplicate_key", f"{key} in {sample.get('__url__')}")
                continue
            keys.add(key)
            yield sample

    def batches(self, samples: Iterable[dict], batch_size: int) -> Iterator[SkipCountedBatch]:
        """Last stage: full batches, each with the worker's new skip counts; when the worker stalls,
        one empty batch with ``stalled`` set, then the end."""
        batch: List[dict] = []
        try:
            for sample in samples:
                batch.append(sample)
                if len(batch) == batch_size:
                    yield self._with_counts(SkipCountedBatch(batch))
                    batch = []
        except DataStalled as stall:
            out = self._with_counts(SkipCountedBatch())
            out.stalled = str(stall)
            yield out

    def _with_counts(self, batch: SkipCountedBatch) -> SkipCountedBatch:
        batch.skipped = dict(self.skipped - self._reported)
        self._reported = Counter(self.skipped)
        return batch


class SkipAccounting:
    """Wraps a loader of :class:`SkipCountedBatch`: totals skips by reason, and raises once more than
    ``max_skip_fraction`` of the samples read so far (after ``min_samples``) were skipped, or
    :class:`DataStalled` when a loader worker cannot form a batch."""

    def __init__(self, loader: Iterable, max_skip_fraction: float, min_samples: int = 1000):
        self.loader = loader
        self.max_skip_fraction = max_skip_fraction
        self.min_samples = min_samples
        self.skipped: Counter = Counter()
        self.used = 0

    def __iter__(self) -> Iterator[List[dict]]:
        for batch in self.loader:
            self.skipped.update(getattr(batch, "skipped", {}))
            stalled = getattr(batch, "stalled", "")
            if stalled:
                raise DataStalled(f"No training batch can be formed: {stalled}. Training samples used so far: "
                                  f"{self.used}; skipped by reason: {dict(self.skipped) or 'none'} (see "
                                  "DATASETS.IMAGE_TEXT.SHARDS).")
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
