import io
import itertools
import json

import pytest
import torch
import webdataset as wds
from PIL import Image

from pseg_d2.data import EpochShardList, ImageTextDatasetMapper, build_image_text_train_loader, expand_shards
from pseg_d2.data.image_text_loader import restart_data_order
from conftest import tiny_cfg


def _image_bytes(color, fmt="PNG", size=(80, 60)):
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


def write_shards(root, num_shards, per_shard):
    """img2dataset-style shards: alternately png+txt and jpg+json samples; returns the brace pattern."""
    for s in range(num_shards):
        with wds.TarWriter(str(root / f"shard-{s:05d}.tar")) as sink:
            for i in range(per_shard):
                key = f"{s:05d}{i:04d}"
                if i % 2:
                    sink.write({"__key__": key, "jpg": _image_bytes((0, 0, 255), "JPEG"), "json": json.dumps({"caption": f"blue {key}"}).encode()})
                else:
                    sink.write({"__key__": key, "png": _image_bytes((255, 0, 0)), "txt": f"red {key}".encode()})
    return str(root / f"shard-{{00000..{num_shards - 1:05d}}}.tar")


def test_expand_shards_braces_and_list_files(tmp_path):
    assert expand_shards(["a/{000..002}.tar"]) == ["a/000.tar", "a/001.tar", "a/002.tar"]
    (tmp_path / "list.txt").write_text("x.tar\n\ny.tar\n")
    assert expand_shards([str(tmp_path / "list.txt"), "z.tar"]) == ["x.tar", "y.tar", "z.tar"]
    with pytest.raises(ValueError):
        expand_shards([])


def test_every_reader_gets_distinct_shards_each_epoch():
    urls = [f"s{i}.tar" for i in range(12)]
    seen = {}
    for rank, worker in itertools.product(range(2), range(3)):
        shards = EpochShardList(urls, seed=3)
        shards.rank, shards.world_size = rank, 2
        info = type("Info", (), {"id": worker, "num_workers": 3})
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(torch.utils.data, "get_worker_info", lambda: info)
            seen[rank, worker] = [d["url"] for d in itertools.islice(iter(shards), 4)]  # two epochs
    first_epoch = [u for s in seen.values() for u in s[:2]]
    assert sorted(first_epoch) == sorted(urls)
    second_epoch = [u for s in seen.values() for u in s[2:]]
    assert sorted(second_epoch) == sorted(urls)
    assert [s[:2] for s in seen.values()] != [s[2:] for s in seen.values()], "epochs reshuffle"


def test_too_few_shards_for_the_readers_is_an_error():
    shards = EpochShardList(["a.tar"])
    shards.world_size = 2
    with pytest.raises(ValueError, match="cannot feed"):
        next(iter(shards))


def test_mapper_crops_tokenises_and_keeps_rgb():
    mapper = ImageTextDatasetMapper(tiny_cfg())
    out = mapper({"__key__": "k", "png": _image_bytes((255, 0, 0)), "txt": b" a red square "})
    assert out["image"].shape == (3, 64, 64) and out["image"].dtype == torch.uint8
    assert out["image"][0].min() == 255 and out["image"][1:].max() == 0
    assert out["caption"] == "a red square"
    assert out["text"].shape == (32,) and out["text"][0] == 49406
    bgr = ImageTextDatasetMapper(tiny_cfg("INPUT.FORMAT", "BGR"))({"png": _image_bytes((255, 0, 0)), "txt": b"x"})
    assert bgr["image"][2].min() == 255


def test_train_loader_yields_full_batches_from_shards(tmp_path):
    pattern = write_shards(tmp_path, num_shards=2, per_shard=5)
    cfg = tiny_cfg("DATASETS.IMAGE_TEXT.SHARDS", [pattern], "SOLVER.IMS_PER_BATCH", 4, "DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER", 2)
    batches = list(itertools.islice(iter(build_image_text_train_loader(cfg)), 6))  # > one epoch of 10 samples
    assert all(len(b) == 4 for b in batches)
    keys = [x["key"] for b in batches[:2] for x in b]
    assert len(set(keys)) == 8
    for x in batches[0]:
        color = "red" if x["caption"].startswith("red") else "blue"
        mean = x["image"].float().mean((1, 2))
        assert (mean.argmax().item() == (0 if color == "red" else 2)), (x["caption"], mean)


def _keys(loader, num_batches):
    return [x["key"] for b in itertools.islice(iter(loader), num_batches) for x in b]


def test_train_loader_order_is_seeded_and_a_resumed_run_redraws_it(tmp_path):
    pattern = write_shards(tmp_path, num_shards=8, per_shard=2)
    cfg = tiny_cfg("DATASETS.IMAGE_TEXT.SHARDS", [pattern], "SOLVER.IMS_PER_BATCH", 4,
                   "DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER", 4, "DATALOADER.NUM_WORKERS", 2, "SEED", 5)
    first = _keys(build_image_text_train_loader(cfg), 4)
    assert _keys(build_image_text_train_loader(cfg), 4) == first, "same SEED, same order (shards, buffer, workers)"
    resumed = build_image_text_train_loader(cfg)
    restart_data_order(resumed, iteration=100)
    assert _keys(resumed, 4) != first


def test_missing_shards_are_reported(tmp_path):
    cfg = tiny_cfg("DATASETS.IMAGE_TEXT.SHARDS", [str(tmp_path / "nope-{0..1}.tar")])
    with pytest.raises(FileNotFoundError, match="2 of 2 shards"):
        build_image_text_train_loader(cfg)
