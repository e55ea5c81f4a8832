"""INPUT.DECODE_DEVICE "cuda": the mapper reads JPEG headers only and decode_batch decodes after the
loader. These run decode_batch's CPU fallback, the same code path as nvjpeg up to the decode call."""
import io
import itertools
import logging

import numpy as np
import pytest
import torch
import webdataset as wds
from detectron2.utils.events import EventStorage
from PIL import Image

from pseg_d2.data import ImageTextDatasetMapper, build_image_text_train_loader
from pseg_d2.data.device_decode import decode_batch
from pseg_d2.data.skips import SkipAccounting, SkipCountedBatch, SkipSample
from pseg_d2.engine.train_loop import PSegStepTrainer, build_train_loop
from conftest import tiny_cfg

CROP = 64  # INPUT.CROP_SIZE of the tiny config


def _picture(size=(160, 120), seed=0):
    """Smooth colour gradients plus a little noise, like a photo (and unlike the flat test images)."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    planes = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    noise = np.random.default_rng(seed).normal(0, 6, planes.shape)
    return Image.fromarray((planes + noise).clip(0, 255).astype(np.uint8))


def _encode(image, fmt="JPEG"):
    buf = io.BytesIO()
    image.save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _sample(data, key="k", ext="jpg"):
    return {"__key__": key, ext: data, "txt": b"a colourful gradient"}


def _mappers(*opts):
    """(CPU mapper, header-only mapper) of the same config."""
    return ImageTextDatasetMapper(tiny_cfg(*opts)), ImageTextDatasetMapper(tiny_cfg(*opts, "INPUT.DECODE_DEVICE", "cuda"))


def _map_both(sample, seed, *opts):
    """The CPU mapper's output and the header-only mapper's, from the same random state."""
    cpu, header_only = _mappers(*opts)
    torch.manual_seed(seed)
    expected = cpu(dict(sample))
    torch.manual_seed(seed)
    return expected, header_only(dict(sample))


@pytest.mark.parametrize("image_format", ["RGB", "BGR"])
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_decoded_jpegs_match_the_cpu_mapper(image_format, mode):
    for seed in range(3):
        sample = _sample(_encode(_picture(seed=seed).convert(mode)), key=f"k{seed}")
        expected, encoded = _map_both(sample, seed, "INPUT.FORMAT", image_format)
        assert "image" not in encoded and encoded["encoded_image"].dtype == torch.uint8
        assert bytes(encoded["encoded_image"].numpy()) == sample["jpg"]
        (out,), failed = decode_batch([encoded], "cpu", CROP, image_format)
        assert failed == 0
        assert set(out) == set(expected) and out["key"] == expected["key"] and torch.equal(out["text"], expected["text"])
        assert out["image"].shape == (3, CROP, CROP) and out["image"].dtype == torch.uint8
        diff = (out["image"].float() - expected["image"].float()).abs()
        assert diff.mean() < 2, diff.mean()  # PIL and torchvision resize (and may decode) slightly differently


def test_bgr_is_the_rgb_image_with_its_channels_reversed():
    sample = _sample(_encode(_picture()))
    outputs = {}
    for image_format in ("RGB", "BGR"):
        _, encoded = _map_both(sample, 0, "INPUT.FORMAT", image_format)
        (outputs[image_format],), _ = decode_batch([encoded], "cpu", CROP, image_format)
    assert torch.equal(outputs["BGR"]["image"], outputs["RGB"]["image"].flip(0))


@pytest.mark.parametrize(
    "data, ext",
    [(_encode(_picture(), "PNG"), "png"), (_encode(_picture().convert("CMYK")), "jpg"), (_encode(_picture(), "PNG"), "jpg")],
    ids=["png", "cmyk_jpeg", "png_named_jpg"],
)
def test_other_images_are_decoded_in_the_worker_and_passed_through(data, ext):
    expected, out = _map_both(_sample(data, ext=ext), 0)
    assert "encoded_image" not in out and torch.equal(out["image"], expected["image"])
    decoded, failed = decode_batch([out], "cpu", CROP, "RGB")
    assert failed == 0 and decoded[0] is out


def test_a_jpeg_that_fails_to_decode_is_dropped_and_counted():
    jpeg = _encode(_picture())
    _, header_only = _mappers()
    batch = [header_only(_sample(jpeg, key="good0")), header_only(_sample(jpeg[: len(jpeg) // 2], key="truncated")),
             header_only(_sample(_encode(_picture(), "PNG"), key="png", ext="png")), header_only(_sample(jpeg, key="good1"))]
    assert "encoded_image" in batch[1]  # its header is fine: only decoding finds the damage
    out, failed = decode_batch(batch, "cpu", CROP, "RGB")
    assert failed == 1
    assert [x["key"] for x in out] == ["good0", "png", "good1"]
    assert all(x["image"].shape == (3, CROP, CROP) for x in out)


@pytest.mark.parametrize(
    "size, opts, reason",
    [((200, 100), ("INPUT.MAX_IMAGE_PIXELS", 10_000), "image_too_large"), ((40, 6), (), "image_too_small")],
)
def test_header_checks_still_skip(size, opts, reason):
    _, header_only = _mappers(*opts)
    with pytest.raises(SkipSample) as skipped:
        header_only(_sample(_encode(_picture(size))))
    assert skipped.value.reason == reason


def test_unknown_decode_device_is_an_error():
    with pytest.raises(ValueError, match="DECODE_DEVICE"):
        ImageTextDatasetMapper(tiny_cfg("INPUT.DECODE_DEVICE", "gpu"))


def test_encoded_samples_come_through_the_loader(tmp_path):
    with wds.TarWriter(str(tmp_path / "shard-0.tar")) as sink:
        for i in range(4):
            sink.write({"__key__": f"{i:03d}", "jpg": _encode(_picture(seed=i)), "txt": b"a gradient"})
    cfg = tiny_cfg("DATASETS.IMAGE_TEXT.SHARDS", [str(tmp_path / "shard-0.tar")], "SOLVER.IMS_PER_BATCH", 4,
                   "DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER", 1, "INPUT.DECODE_DEVICE", "cuda")
    batch = next(iter(build_image_text_train_loader(cfg)))
    assert all("encoded_image" in x and len(x["crop_box"]) == 4 for x in batch)
    out, failed = decode_batch(list(batch), "cuda", CROP, "RGB")  # no CUDA here: the CPU fallback
    assert failed == 0 and [x["image"].shape for x in out] == [(3, CROP, CROP)] * 4


class _RecordingModel(torch.nn.Module):
    """Stands in for P-Seg in a training step: records the batches it is given."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(()))
        self.batches = []

    def forward(self, batched_inputs):
        self.batches.append(batched_inputs)
        return {"loss": self.weight * torch.stack([x["image"].float().mean() for x in batched_inputs]).mean()}


def _encoded_batches(num_batches, batch_size, broken_keys):
    _, header_only = _mappers()
    jpeg = _encode(_picture())
    batches = []
    for b in range(num_batches):
        keys = [f"{b}-{i}" for i in range(batch_size)]
        batch = SkipCountedBatch(header_only(_sample(jpeg[: len(jpeg) // 2] if k in broken_keys else jpeg, key=k)) for k in keys)
        batch.skipped = {}
        batches.append(batch)
    return batches


def _steps(loader, num_steps):
    model = _RecordingModel().train()
    trainer = build_train_loop(tiny_cfg("INPUT.DECODE_DEVICE", "cuda"), model, loader, torch.optim.SGD(model.parameters(), lr=0.1))
    assert isinstance(trainer, PSegStepTrainer)
    with EventStorage():
        for trainer.iter in range(num_steps):
            trainer.run_step()
    return model.batches


def test_training_step_decodes_and_refills_the_batch_of_a_broken_jpeg():
    accounting = SkipAccounting(_encoded_batches(3, 3, broken_keys={"0-1"}), max_skip_fraction=0.5)
    batches = _steps(accounting, 2)
    assert [[x["key"] for x in b] for b in batches] == [["0-0", "0-2", "1-0"], ["1-1", "1-2", "2-0"]]
    assert all(x["image"].shape == (3, CROP, CROP) for b in batches for x in b)
    assert accounting.skipped == {"undecodable_image": 1} and accounting.used == 8


def test_decode_failures_are_logged_without_skip_accounting(caplog):
    with caplog.at_level(logging.WARNING):
        batches = _steps(itertools.cycle(_encoded_batches(1, 2, broken_keys={"0-0"})), 1)
    assert [x["key"] for x in batches[0]] == ["0-1", "0-1"]
    assert "dropped 1 training JPEG(s) that failed to decode (2 so far)" in caplog.text  # one per loader batch
