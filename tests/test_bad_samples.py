"""Broken web data: every bad sample is converted or skipped and counted by reason, never silently."""
import io
import itertools
import json
import os
import logging
import subprocess
import sys
import threading
import time
from collections import Counter

import numpy as np
import pytest
import webdataset as wds
from PIL import Image

from pseg_d2.data import ImageTextDatasetMapper, build_image_text_train_loader
from pseg_d2.data.skips import DataStalled, DataWatchdog, SkipAccounting, SkipCountedBatch, SkipSample
from conftest import tiny_cfg

GOOD = 4


def _encode(image, fmt="PNG"):
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def _rgb(color=(200, 30, 30), size=(40, 30)):
    return Image.new("RGB", size, color)


def _animated_gif(first=(200, 30, 30), second=(30, 200, 30)):
    frames = [_rgb(first), _rgb(second)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def bad_and_odd_samples():
    """(sample, expected skip reason or None when it must be converted and used)."""
    png = _encode(_rgb())
    return [
        ({"png": png[: len(png) // 2], "txt": b"truncated"}, "undecodable_image"),
        ({"jpg": b"this is not an image", "txt": b"junk"}, "undecodable_image"),
        ({"png": _encode(Image.new("1", (20000, 20000))), "txt": b"bomb"}, "image_too_large"),
        ({"png": _encode(_rgb(size=(1, 1))), "txt": b"tiny"}, "image_too_small"),
        ({"txt": b"no image here"}, "missing_image"),
        ({"png": png}, "missing_caption"),
        ({"png": png, "txt": b"   "}, "empty_caption"),
        ({"png": png, "txt": b"caf\xe9 \xff"}, "caption_not_utf8"),
        ({"png": png, "json": b"{not json"}, "bad_json"),
        ({"png": _encode(_rgb().convert("L")), "txt": b"grey"}, None),
        ({"jpg": _encode(_rgb().convert("CMYK"), "JPEG"), "txt": b"cmyk"}, None),
        ({"png": _encode(_rgb().convert("RGBA")), "txt": b"alpha"}, None),
        ({"png": _encode(_rgb().convert("P")), "txt": b"palette"}, None),
        ({"png": _encode(Image.fromarray(np.full((30, 40), 40000, dtype=np.uint16))), "txt": b"sixteen bit"}, None),
        ({"png": png, "txt": ("word " * 200).encode()}, None),
        ({"gif": _animated_gif(), "txt": b"animated"}, None),
    ]


def expected_skips():
    return Counter(reason for _, reason in bad_and_odd_samples() if reason)


def write_shard(path, with_good=GOOD):
    with wds.TarWriter(str(path)) as sink:
        for i, (sample, _) in enumerate(bad_and_odd_samples()):
            sink.write({"__key__": f"odd{i:03d}", **sample})
        for i in range(with_good):
            sink.write({"__key__": f"good{i:03d}", "png": _encode(_rgb((30, 30, 200))), "txt": b"a blue image"})


def test_mapper_converts_colour_modes_and_truncates_long_captions():
    mapper = ImageTextDatasetMapper(tiny_cfg())
    for sample, reason in bad_and_odd_samples():
        if reason is None:
            out = mapper(dict(sample))
            assert out["image"].shape == (3, 64, 64)
            assert out["text"].shape == (32,) and out["text"][-1] in (0, 49407)
    sixteen = [s for s, _ in bad_and_odd_samples() if s.get("txt") == b"sixteen bit"][0]
    assert abs(int(mapper(dict(sixteen))["image"][0, 0, 0]) - 40000 // 257) <= 1
    gif = mapper({"gif": _animated_gif(), "txt": b"animated"})["image"]  # the first frame, red
    assert abs(int(gif[0, 0, 0]) - 200) <= 2 and abs(int(gif[1, 0, 0]) - 30) <= 2


def test_loader_counts_each_skip_by_reason(tmp_path):
    write_shard(tmp_path / "shard-0.tar")
    cfg = tiny_cfg("DATASETS.IMAGE_TEXT.SHARDS", [str(tmp_path / "shard-0.tar")], "SOLVER.IMS_PER_BATCH",
                   len(bad_and_odd_samples()) - sum(expected_skips().values()) + GOOD, "DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER", 1)
    batch = next(iter(build_image_text_train_loader(cfg)))
    assert isinstance(batch, SkipCountedBatch)
    assert Counter(batch.skipped) == expected_skips()


def test_truncated_shard_is_named_and_its_readable_samples_used(tmp_path, caplog):
    with wds.TarWriter(str(tmp_path / "cut.tar")) as sink:
        for i in range(6):
            sink.write({"__key__": f"{i:03d}", "png": _encode(_rgb(size=(200, 200))), "txt": b"ok"})
    data = (tmp_path / "cut.tar").read_bytes()
    (tmp_path / "cut.tar").write_bytes(data[: len(data) * 2 // 3])
    cfg = tiny_cfg("DATASETS.IMAGE_TEXT.SHARDS", [str(tmp_path / "cut.tar")], "SOLVER.IMS_PER_BATCH", 2,
                   "DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER", 1)
    accounting = SkipAccounting(build_image_text_train_loader(cfg), max_skip_fraction=0.5, min_samples=10**6)
    batches = list(itertools.islice(iter(accounting), 6))  # the loader re-reads the one shard every epoch
    assert all(len(b) == 2 for b in batches)
    assert accounting.skipped["shard_error"] >= 1
    assert "cut.tar" in caplog.text


def test_skip_accounting_stops_a_mostly_broken_run():
    batches = []
    for _ in range(10):
        b = SkipCountedBatch([{}] * 2)
        b.skipped = {"undecodable_image": 8}
        batches.append(b)
    accounting = SkipAccounting(batches, max_skip_fraction=0.5, min_samples=20)
    with pytest.raises(RuntimeError, match="80.0% of the 20 training samples"):
        list(accounting)


@pytest.mark.slow
def test_train_net_finishes_and_reports_skips(tmp_path):
    write_shard(tmp_path / "shard-0.tar")
    used = len(bad_and_odd_samples()) - sum(expected_skips().values()) + GOOD
    out = tmp_path / "run"
    cmd = [sys.executable, "tools/train_net.py", "--config-file", "configs/tiny/pseg_r18_tiny.yaml",
           "DATASETS.IMAGE_TEXT.SHARDS", json.dumps([str(tmp_path / "shard-0.tar")]), "DATASETS.TEST", "()",
           "SOLVER.IMS_PER_BATCH", str(used), "DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER", "1", "SOLVER.MAX_ITER", "2",
           "DATALOADER.MAX_SKIP_FRACTION", "0.9", "OUTPUT_DIR", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()][-1]
    # Two iterations read the shard twice (one epoch per batch): every bad sample was skipped twice.
    skipped = {k.split("/", 1)[1]: v for k, v in last.items() if k.startswith("data_skipped/") and k != "data_skipped/fraction"}
    assert skipped == {reason: 2 * n for reason, n in expected_skips().items()}
    assert "skipped by reason" in proc.stderr + proc.stdout


# ---------------------------------------------------------------- no usable sample: training stops, never hangs


def _first_batch_or_error(loader, timeout=120):
    """The exception that the first ``next(iter(loader))`` raises, or the batch; fails after ``timeout``
    seconds instead of hanging (the old loader waited forever)."""
    result = {}

    def run():
        try:
            result["batch"] = next(iter(loader))
        except Exception as e:  # noqa: BLE001  (handed to the test)
            result["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"no batch and no error after {timeout} s: the loader hangs"
    return result.get("error", result.get("batch")), time.monotonic() - start


def _write_undecodable_shard(path, count):
    with wds.TarWriter(str(path)) as sink:
        for i in range(count):
            sink.write({"__key__": f"{i:05d}", "jpg": b"not a jpeg", "txt": b"a caption"})


@pytest.mark.parametrize("workers", [0, 1])
def test_all_undecodable_samples_stop_training_with_counts(tmp_path, workers):
    _write_undecodable_shard(tmp_path / "bad.tar", 30)
    cfg = tiny_cfg("DATASETS.IMAGE_TEXT.SHARDS", [str(tmp_path / "bad.tar")], "SOLVER.IMS_PER_BATCH", 4,
                   "DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER", 1, "DATALOADER.NUM_WORKERS", workers,
                   "DATALOADER.MAX_SKIPS_WITHOUT_BATCH", 50)
    error, seconds = _first_batch_or_error(SkipAccounting(build_image_text_train_loader(cfg), 0.5))
    assert isinstance(error, DataStalled), error
    message = str(error)
    assert "\n" not in message
    assert "50 samples in a row" in message and "'undecodable_image': 50" in message  # exact counts
    assert "truncated or not JPEG" in message  # what to check


@pytest.mark.parametrize("content", ["empty tar", "empty file"])
def test_a_shard_set_without_samples_stops_training(tmp_path, content):
    shard = tmp_path / "empty.tar"
    if content == "empty tar":
        with wds.TarWriter(str(shard)):
            pass
    else:
        shard.write_bytes(b"")
    cfg = tiny_cfg("DATASETS.IMAGE_TEXT.SHARDS", [str(shard)], "SOLVER.IMS_PER_BATCH", 2)
    error, _ = _first_batch_or_error(SkipAccounting(build_image_text_train_loader(cfg), 0.5))
    assert isinstance(error, DataStalled), error
    assert "read no sample" in str(error)
    assert ("empty tar files" if content == "empty tar" else "not readable tar files") in str(error)


def test_skips_are_logged_at_a_bounded_rate_and_counted_exactly(caplog):
    watchdog = DataWatchdog(max_skips_without_batch=10**6, log_period=3600)
    with caplog.at_level(logging.DEBUG, logger="pseg_d2.data.skips"):
        for i in range(5000):
            watchdog.sample_handler(SkipSample("undecodable_image", f"sample {i}"))
        for i in range(300):
            watchdog.sample_handler(SkipSample("missing_caption"))
    assert watchdog.skipped == {"undecodable_image": 5000, "missing_caption": 300}
    assert len(caplog.records) == 2  # the first of each reason; then one line per log_period at most
    assert "sample 0" in caplog.records[0].getMessage()
    assert "{'undecodable_image': 5000, 'missing_caption': 1}" in caplog.records[1].getMessage()  # running counts


def test_a_key_repeated_in_a_shard_is_skipped_and_counted(tmp_path):
    png = _encode(_rgb())
    with wds.TarWriter(str(tmp_path / "dup.tar")) as sink:
        for key in ("a", "b", "a"):  # the same key again, later in the shard
            sink.write({"__key__": key, "png": png, "txt": key.encode()})
    cfg = tiny_cfg("DATASETS.IMAGE_TEXT.SHARDS", [str(tmp_path / "dup.tar")], "SOLVER.IMS_PER_BATCH", 2,
                   "DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER", 1)
    accounting = SkipAccounting(build_image_text_train_loader(cfg), max_skip_fraction=0.9, min_samples=10**6)
    batches = list(itertools.islice(iter(accounting), 3))  # three passes over the shard
    assert [sorted(x["key"] for x in b) for b in batches] == [["a", "b"]] * 3
    assert accounting.skipped == {"duplicate_key": 2}  # one per pass read so far; re-reading the shard is no repeat


@pytest.mark.slow
@pytest.mark.parametrize("shard", ["undecodable", "empty tar"])
def test_train_net_stops_on_unusable_data_with_one_line(tmp_path, shard):
    path = tmp_path / "shard-0.tar"
    if shard == "undecodable":
        _write_undecodable_shard(path, 200)
    else:
        with wds.TarWriter(str(path)):
            pass
    cmd = [sys.executable, "tools/train_net.py", "--config-file", "configs/tiny/pseg_r18_tiny.yaml",
           "DATASETS.IMAGE_TEXT.SHARDS", json.dumps([str(path)]), "DATASETS.TEST", "()", "SOLVER.IMS_PER_BATCH", "4",
           "DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER", "1", "SOLVER.MAX_ITER", "2",
           "DATALOADER.MAX_SKIPS_WITHOUT_BATCH", "1000", "OUTPUT_DIR", str(tmp_path / "run")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: No training batch can be formed"), proc.stderr[-3000:]
    assert ("'undecodable_image': 1000" if shard == "undecodable" else "empty tar files") in last
    skip_lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "skipped (" in line]
    assert len(skip_lines) <= 5, skip_lines[:10]  # 1,000 skips, logged at a bounded rate
