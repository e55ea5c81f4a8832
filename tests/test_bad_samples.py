"""Broken web data: every bad sample is converted or skipped and counted by reason, never silently."""
import io
import itertools
import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import webdataset as wds
from PIL import Image

from pseg_d2.data import ImageTextDatasetMapper, build_image_text_train_loader
from pseg_d2.data.skips import SkipAccounting, SkipCountedBatch
from conftest import tiny_cfg

GOOD = 4


def _encode(image, fmt="PNG"):
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def _rgb(color=(200, 30, 30), size=(40, 30)):
    return Image.new("RGB", size, color)


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
