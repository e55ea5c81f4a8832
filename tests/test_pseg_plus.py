"""P-Seg+: ViT pyramid, UperNet + SemanticSegmentor, layer-wise lr decay, MAE loading, pseudo labels."""
import os
import subprocess
import sys

import numpy as np
import pytest
import timm
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import DatasetCatalog, DatasetMapper, MetadataCatalog
from detectron2.modeling import build_model
from PIL import Image

from conftest import TINY_CONFIG, tiny_cfg
from pseg_d2.data.datasets.catalog_utils import unregister
from pseg_d2.data.datasets.register_synthetic import register_synthetic
from pseg_d2.engine import setup_cfg
from pseg_d2.modeling.backbone import ViTPyramid
from pseg_d2.selftrain import build_layer_decay_adamw, generate_pseudo_labels, layer_decay_param_groups, register_pseudo_labels
from pseg_d2.selftrain.pseudo_labels import MANIFEST, write_manifest
from pseg_d2.synthetic import WorldSpec, generate_sample, write_train_images, write_world

VIT = "vit_tiny_patch16_224"


def plus_cfg(*opts):
    """configs/pseg_plus/synthetic.yaml, narrower: a 12-block ViT 32 wide, head 16 wide, 5 classes."""
    return setup_cfg("configs/pseg_plus/synthetic.yaml", [
        "MODEL.DEVICE", "cpu", "MODEL.VIT.EMBED_DIM", 32, "MODEL.SEM_SEG_HEAD.CONVS_DIM", 16,
        "MODEL.SEM_SEG_HEAD.NUM_CLASSES", 5, *opts], freeze=False)


@pytest.mark.parametrize("patch, strides", [(16, [4, 8, 16, 32]), (8, [2, 4, 8, 16])])
def test_vit_pyramid_levels_have_the_declared_strides_and_channels(patch, strides):
    vit = ViTPyramid(VIT, img_size=64, patch_size=patch, embed_dim=32, num_heads=2)
    x = torch.randn(2, 3, 64, 96)  # not the pos-embed grid: interpolated on the fly
    out = vit(x)
    shapes = vit.output_shape()
    assert [shapes[n].stride for n in out] == strides
    assert list(out) == [f"res{int(np.log2(s))}" for s in strides]
    for name, y in out.items():
        assert y.shape == (2, 32, 64 // shapes[name].stride, 96 // shapes[name].stride)
    assert vit.size_divisibility == 2 * patch


def test_vit_pyramid_reads_the_chosen_blocks_and_drops_later_ones():
    vit = ViTPyramid(VIT, out_blocks=[1, 2, 3, 5], img_size=32, embed_dim=32, num_heads=2).eval()
    assert vit.num_layers == 5  # blocks 6..12 pruned: no unused parameters
    x = torch.randn(1, 3, 32, 32)
    tokens = vit.vit._pos_embed(vit.vit.patch_embed(x))
    for block in vit.vit.blocks[:3]:
        tokens = block(tokens)
    expected = tokens[:, 1:].reshape(1, 2, 2, 32).permute(0, 3, 1, 2)  # block 3, without the class token
    assert torch.allclose(vit(x)["res4"], expected, atol=1e-5)
    with pytest.raises(ValueError, match="OUT_BLOCKS"):
        ViTPyramid(VIT, out_blocks=[4, 6, 8, 13], embed_dim=32, num_heads=2)
    with pytest.raises(ValueError, match="OUT_BLOCKS"):
        ViTPyramid(VIT, out_blocks=[6, 4, 8, 12], embed_dim=32, num_heads=2)


def test_layer_decay_gives_each_block_its_learning_rate():
    cfg = plus_cfg("MODEL.VIT.OUT_BLOCKS", [1, 2, 3, 4], "SOLVER.BASE_LR", 1.0, "SOLVER.LAYER_DECAY", 0.5)
    model = build_model(cfg)
    optimizer = build_layer_decay_adamw(cfg, model)
    lr = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    wd = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    params = dict(model.named_parameters())
    # L = 4 blocks: embeddings 0.5^5, block i 0.5^(4 - i), everything after the ViT 1.
    expected = {
        "backbone.vit.patch_embed.proj.weight": 0.03125,
        "backbone.vit.pos_embed": 0.03125,
        "backbone.vit.cls_token": 0.03125,
        "backbone.vit.blocks.0.attn.qkv.weight": 0.0625,
        "backbone.vit.blocks.1.mlp.fc1.weight": 0.125,
        "backbone.vit.blocks.2.norm1.weight": 0.25,
        "backbone.vit.blocks.3.attn.proj.bias": 0.5,
        "backbone.levels.0.0.weight": 1.0,
        "sem_seg_head.predictor.weight": 1.0,
    }
    for name, value in expected.items():
        assert lr[id(params[name])] == pytest.approx(value), name
    assert len(lr) == sum(p.requires_grad for p in model.parameters())
    assert wd[id(params["backbone.vit.blocks.0.attn.qkv.weight"])] == 0.05
    for name in ("backbone.vit.pos_embed", "backbone.vit.cls_token", "backbone.vit.blocks.3.attn.proj.bias",
                 "backbone.vit.blocks.2.norm1.weight", "sem_seg_head.predictor.bias"):
        assert wd[id(params[name])] == 0.0, name
    groups = layer_decay_param_groups(model, 1e-4, 0.05, 0.7)  # the paper's: block 11 of 12 at 0.7 * 1e-4
    assert sorted({round(g["lr"] / 1e-4, 6) for g in groups}) == [round(0.7 ** k, 6) for k in range(5, -1, -1)]


def test_upernet_semantic_segmentor_fits_a_fixed_batch():
    cfg = plus_cfg("MODEL.VIT.OUT_BLOCKS", [1, 2, 3, 4], "SOLVER.LAYER_DECAY", 1.0, "SOLVER.BASE_LR", 2e-3)
    model = build_model(cfg)
    assert type(model).__name__ == "SemanticSegmentor" and type(model.sem_seg_head).__name__ == "UperNetHead"
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    labels = torch.zeros(4, 32, 32, dtype=torch.long)
    for i in range(4):  # class i + 1 in a square whose colour is the class, 255 (ignored) on a border
        images[i, :, 8:24, 8:24] = torch.tensor([60 * i, 255 - 60 * i, 128]).view(3, 1, 1)
        labels[i, 8:24, 8:24] = i + 1
    labels[:, :, :2] = 255
    batch = [{"image": im, "sem_seg": lab} for im, lab in zip(images, labels)]
    optimizer = build_layer_decay_adamw(cfg, model)
    model.train()
    losses = []
    for _ in range(25):
        loss = model(batch)["loss_sem_seg"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.75 * losses[0]
    assert max(losses[-5:]) < min(losses[:5])  # falling throughout, not one lucky step
    model.eval()
    with torch.no_grad():
        out = model([{"image": images[0], "height": 48, "width": 40}])[0]["sem_seg"]
    assert out.shape == (5, 48, 40)


def fake_mae_checkpoint(path, embed_dim=32):
    """An MAE pre-training checkpoint: timm-named encoder of a 224 model (14 x 14 grid), its final norm,
    a decoder and a mask token, under "model"."""
    encoder = timm.create_model(VIT, pretrained=False, num_classes=0, embed_dim=embed_dim, num_heads=2)
    state = {k: v for k, v in encoder.state_dict().items()}
    state.update({
        "mask_token": torch.zeros(1, 1, 16),
        "decoder_embed.weight": torch.zeros(16, embed_dim),
        "decoder_blocks.0.attn.qkv.weight": torch.zeros(48, 16),
        "decoder_pos_embed": torch.zeros(1, 197, 16),
        "decoder_pred.weight": torch.zeros(768, 16),
    })
    torch.save({"model": state}, path)
    return state


def test_mae_checkpoint_is_mapped_onto_the_backbone(tmp_path):
    state = fake_mae_checkpoint(tmp_path / "mae.pth")
    vit = ViTPyramid(VIT, img_size=64, embed_dim=32, num_heads=2, weights=str(tmp_path / "mae.pth"))
    model = vit.vit
    assert torch.equal(model.patch_embed.proj.weight, state["patch_embed.proj.weight"])
    assert torch.equal(model.blocks[11].mlp.fc2.weight, state["blocks.11.mlp.fc2.weight"])
    assert torch.equal(model.cls_token, state["cls_token"])
    # 14 x 14 grid resampled to 4 x 4; the class token's embedding is kept as is
    assert model.pos_embed.shape == (1, 1 + 16, 32)
    assert torch.equal(model.pos_embed[:, 0], state["pos_embed"][:, 0])
    grid = state["pos_embed"][0, 1:].reshape(14, 14, 32).permute(2, 0, 1)
    assert torch.allclose(model.pos_embed[0, 1:].mean(0), grid.mean((1, 2)), atol=0.02)
    with pytest.raises(FileNotFoundError, match="MODEL.VIT.WEIGHTS"):
        ViTPyramid(VIT, img_size=64, embed_dim=32, num_heads=2, weights=str(tmp_path / "absent.pth"))
    with pytest.raises(RuntimeError):  # another width: the checkpoint does not fit
        ViTPyramid(VIT, img_size=64, embed_dim=64, num_heads=2, weights=str(tmp_path / "mae.pth"))


def test_mae_checkpoint_loads_with_early_out_blocks_and_mae_pos_embed_resizing(tmp_path):
    state = fake_mae_checkpoint(tmp_path / "mae.pth")
    vit = ViTPyramid(VIT, out_blocks=[3, 5, 7, 9], img_size=128, embed_dim=32, num_heads=2,
                     weights=str(tmp_path / "mae.pth")).vit
    assert len(vit.blocks) == 9 and torch.equal(vit.blocks[8].mlp.fc2.weight, state["blocks.8.mlp.fc2.weight"])
    # MAE's interpolate_pos_embed: bicubic to the output size, without antialiasing, class token kept.
    grid = state["pos_embed"][:, 1:].reshape(1, 14, 14, 32).permute(0, 3, 1, 2)
    official = torch.nn.functional.interpolate(grid, size=(8, 8), mode="bicubic", align_corners=False)
    assert torch.equal(vit.pos_embed[:, 1:], official.permute(0, 2, 3, 1).reshape(1, 64, 32))


# ------------------------------------------------------------------ pseudo labels
@pytest.fixture(scope="module")
def teacher():
    cfg = tiny_cfg("INPUT.MIN_SIZE_TEST", 32)
    torch.manual_seed(0)
    return build_model(cfg).eval(), DatasetMapper(cfg, is_train=False)


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    dicts = []
    for i in range(7):
        path = tmp_path / "images" / f"{i:03d}.jpg"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (32, 40 + 8 * (i % 2), 3), dtype=np.uint8)).save(path)
        dicts.append({"file_name": str(path), "height": 32, "width": 40 + 8 * (i % 2), "image_id": i})
    return dicts


VOCABULARY = ["background", "red", "green", "blue"]


def outputs(folder):
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}


class StopAfter(torch.nn.Module):
    """The teacher, interrupted (an exception) on its ``calls``-th batch."""

    def __init__(self, model, calls):
        super().__init__()
        self.model, self.calls = model, calls

    def forward(self, batch):
        self.calls -= 1
        if self.calls == 0:
            raise KeyboardInterrupt
        return self.model(batch)


def test_pseudo_labels_resume_to_the_same_bytes(tmp_path, teacher, images):
    model, mapper = teacher
    whole = tmp_path / "whole"
    assert generate_pseudo_labels(model, mapper, images, VOCABULARY, str(whole), batch_size=3, progress=False).written == 7
    reference = outputs(whole)
    assert len(reference) == 7
    labels = [np.asarray(Image.open(whole / f"{i:03d}.png")) for i in range(7)]
    assert all(lab.dtype == np.uint8 and lab.shape == (d["height"], d["width"]) for lab, d in zip(labels, images))
    assert max(lab.max() for lab in labels) < len(VOCABULARY)

    # interrupted in the 2nd batch, then resumed
    resumed = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        generate_pseudo_labels(StopAfter(model, 2), mapper, images, VOCABULARY, str(resumed), batch_size=3, progress=False)
    assert len(os.listdir(resumed)) == 3
    assert generate_pseudo_labels(model, mapper, images, VOCABULARY, str(resumed), batch_size=3, progress=False).written == 4
    assert outputs(resumed) == reference

    # half deleted, a half-written temporary left behind (a kill between write and rename)
    for i in (1, 4, 5):
        os.remove(resumed / f"{i:03d}.png")
    (resumed / "004.png.tmp").write_bytes(b"\x89PNG garbage")
    assert generate_pseudo_labels(model, mapper, images, VOCABULARY, str(resumed), batch_size=3, progress=False).written == 3
    assert outputs(resumed) == reference  # no .tmp left either

    # two ranks, each its own batches: together the same files
    ranks = tmp_path / "ranks"
    counts = [generate_pseudo_labels(model, mapper, images, VOCABULARY, str(ranks), batch_size=3, rank=r, world_size=2,
                                     progress=False).written for r in (0, 1)]
    assert counts == [3 + 1, 3] and outputs(ranks) == reference


def test_unreadable_images_are_skipped_named_and_left_out_of_the_dataset(tmp_path, teacher, images):
    model, mapper = teacher
    broken = [dict(d) for d in images]
    for i, content in ((2, b""), (5, b"\xff\xd8 not a jpeg")):
        path = tmp_path / f"broken{i}.png"
        path.write_bytes(content)
        broken[i]["file_name"] = str(path)
    labels = tmp_path / "labels"
    stats = generate_pseudo_labels(model, mapper, broken, VOCABULARY, str(labels), batch_size=3, progress=False)
    assert stats.written == 5 and stats.unreadable == [str(tmp_path / "broken2.png"), str(tmp_path / "broken5.png")]
    assert sorted(os.listdir(labels)) == [f"{i:03d}.png" for i in (0, 1, 3, 4, 6)]
    try:
        DatasetCatalog.register("broken_train", lambda: broken)
        MetadataCatalog.get("broken_train").set(stuff_classes=VOCABULARY, ignore_label=255)
        write_manifest(str(labels), "broken_train", VOCABULARY, len(broken), stats.unreadable)
        dicts = DatasetCatalog.get(register_pseudo_labels("broken_train", str(labels)))
        assert [d["sem_seg_file_name"] for d in dicts] == [str(labels / f"{i:03d}.png") for i in (0, 1, 3, 4, 6)]
    finally:
        for name in ("broken_train", "broken_train_pseudo"):
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)


def test_min_score_marks_unsure_pixels_ignored(tmp_path, teacher, images):
    model, mapper = teacher
    generate_pseudo_labels(model, mapper, images[:2], VOCABULARY, str(tmp_path / "all"), min_score=2.0, progress=False)
    assert (np.asarray(Image.open(tmp_path / "all" / "000.png")) == 255).all()  # scores are probabilities


def test_pseudo_labels_register_as_a_dataset(tmp_path, teacher, images):
    model, mapper = teacher
    labels = tmp_path / "labels"
    try:
        DatasetCatalog.register("fake_train", lambda: [dict(d, sem_seg_file_name="gt.png") for d in images])
        MetadataCatalog.get("fake_train").set(stuff_classes=VOCABULARY, stuff_colors=[[0, 0, 0]] * 4, ignore_label=255)
        name = register_pseudo_labels("fake_train", str(labels))
        assert name == "fake_train_pseudo"
        with pytest.raises(FileNotFoundError, match="generate_pseudo_labels.py"):
            DatasetCatalog.get(name)
        generate_pseudo_labels(model, mapper, images, VOCABULARY, str(labels), progress=False)
        write_manifest(str(labels), "fake_train", VOCABULARY, len(images))
        dicts = DatasetCatalog.get(name)
        assert [d["file_name"] for d in dicts] == [d["file_name"] for d in images]
        assert [d["sem_seg_file_name"] for d in dicts] == [str(labels / f"{i:03d}.png") for i in range(7)]
        meta = MetadataCatalog.get(name)
        assert meta.stuff_classes == VOCABULARY and meta.ignore_label == 255 and meta.evaluator_type == "sem_seg"
        write_manifest(str(labels), "fake_train", ["background", "cat"], len(images))
        with pytest.raises(ValueError, match="not of 'fake_train'"):
            DatasetCatalog.get(name)
        assert os.path.exists(labels / MANIFEST)
    finally:
        unregister("fake_train")
        unregister("fake_train_pseudo")


# ------------------------------------------------------------------ the tools, end to end
def _tool(script, args, data_root, num_gpus=1):
    env = dict(os.environ, DETECTRON2_DATASETS=str(data_root), OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, script, "--num-gpus", str(num_gpus)] + args, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_generate_on_two_processes_then_train_pseg_plus(tmp_path):
    data = tmp_path / "d2data"
    write_world(str(data / "synthetic"), WorldSpec(size=64), num_train=24, num_val=4, num_heldout=2, shard_size=24,
                workers=1, progress=False)
    write_train_images(str(data / "synthetic"), 7, workers=1, progress=False)
    DetectionCheckpointer(build_model(tiny_cfg()), save_dir=str(tmp_path)).save("pseg")
    generate = ["--config-file", TINY_CONFIG, "--dataset", "synthetic_colors_train", "--batch-size", "2"]
    opts = ["MODEL.WEIGHTS", str(tmp_path / "pseg.pth"), "INPUT.MIN_SIZE_TEST", "64", "DATALOADER.NUM_WORKERS", "0"]
    one, two = tmp_path / "one" / "synthetic_colors_train", tmp_path / "two" / "synthetic_colors_train"
    _tool("tools/generate_pseudo_labels.py", generate + ["--output", str(one)] + opts, data)
    _tool("tools/generate_pseudo_labels.py", generate + ["--output", str(two)] + opts, data, num_gpus=2)
    assert len(outputs(one)) == 7 + 1 and outputs(one) == outputs(two)  # labels + manifest

    out = tmp_path / "plus"
    log = _tool("tools/train_net.py", [
        "--config-file", "configs/pseg_plus/synthetic.yaml", "MODEL.VIT.EMBED_DIM", "32", "MODEL.SEM_SEG_HEAD.CONVS_DIM",
        "16", "SOLVER.MAX_ITER", "2", "SOLVER.IMS_PER_BATCH", "4", "DATASETS.PSEUDO_LABELS_ROOT", str(tmp_path / "one"),
        "DATASETS.TEST", '("synthetic_colors_val",)', "OUTPUT_DIR", str(out)], data)
    assert (out / "model_final.pth").exists()
    assert "PSegPlusTrainer" in log or "UperNetHead" in log
    assert "mIoU" in log


def test_synthetic_train_images_are_the_shards_pictures(tmp_path):
    root = tmp_path / "synthetic"
    write_world(str(root), WorldSpec(size=32), num_train=8, num_val=2, num_heldout=2, shard_size=8, workers=1,
                progress=False)
    write_train_images(str(root), 3, workers=1, progress=False)
    sample = generate_sample(WorldSpec(size=32), "train", 2)  # what shard-000000.tar holds as sample 2
    assert np.array_equal(np.asarray(Image.open(root / "train_images" / "images" / "000002.png")), sample.image)
    assert np.array_equal(np.asarray(Image.open(root / "train_images" / "colors" / "000002.png")), sample.color_label)
    default = os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"), "synthetic")
    try:
        register_synthetic(str(root))
        assert len(DatasetCatalog.get("synthetic_shapes_train")) == 3
        assert MetadataCatalog.get("synthetic_colors_train").stuff_classes == MetadataCatalog.get("synthetic_colors_val").stuff_classes
        register_synthetic(str(tmp_path / "absent"))
        with pytest.raises(FileNotFoundError, match="--num-train-images"):
            DatasetCatalog.get("synthetic_colors_train")
    finally:
        register_synthetic(default)
