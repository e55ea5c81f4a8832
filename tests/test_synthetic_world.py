"""The synthetic open-vocabulary world: determinism, caption/label consistency, held-out
pairs, the on-disk layout (webdataset shards, label PNGs), registration and resuming."""
import colorsys
import json
import os
import re
import shutil

import numpy as np
import pytest
import webdataset as wds
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image
from scipy.ndimage import binary_dilation

from conftest import load_script
from pseg_d2.data.datasets.register_synthetic import register_synthetic
from pseg_d2.synthetic import (
    COLORS,
    HELDOUT_PAIRS,
    SHAPES,
    WorldSpec,
    allowed_pairs,
    generate_sample,
    load_spec,
    plural,
    write_world,
)
from pseg_d2.synthetic.render import rasterize

SHAPE_IDS = {s: i + 1 for i, s in enumerate(SHAPES)}
COLOR_IDS = {c: i + 1 for i, c in enumerate(COLORS)}
SHAPE_WORDS = {**{s: s for s in SHAPES}, **{plural(s): s for s in SHAPES}}
SPEC = WorldSpec(size=64, seed=3)


def caption_words(caption):
    """(colour words, shape words) named in a caption."""
    words = re.findall(r"[a-z]+", caption)
    return {w for w in words if w in COLORS}, {SHAPE_WORDS[w] for w in words if w in SHAPE_WORDS}


def test_same_seed_same_sample_other_seed_differs():
    for size in (64, 96):
        spec = WorldSpec(size=size, seed=7)
        for index in (0, 5):
            a, b = generate_sample(spec, "train", index), generate_sample(spec, "train", index)
            assert a.image.shape == (size, size, 3) and a.image.dtype == np.uint8
            assert a.shape_label.shape == a.color_label.shape == (size, size)
            assert np.array_equal(a.image, b.image)
            assert np.array_equal(a.shape_label, b.shape_label)
            assert np.array_equal(a.color_label, b.color_label)
            assert a.caption == b.caption
    base = [generate_sample(SPEC, "train", i) for i in range(4)]
    other = [generate_sample(WorldSpec(size=64, seed=4), "train", i) for i in range(4)]
    val = [generate_sample(SPEC, "val", i) for i in range(4)]
    for a, b, c in zip(base, other, val):
        assert not np.array_equal(a.image, b.image)
        assert not np.array_equal(a.image, c.image)
    assert generate_sample(WorldSpec(size=128), "val", 1).image.shape == (128, 128, 3)


@pytest.mark.parametrize("split", ["train", "val"])
def test_captions_and_labels_match_the_visible_objects(split):
    kinds = set()
    for index in range(200):
        sample = generate_sample(SPEC, split, index)
        objects = sample.scene.objects
        kinds.add(sample.scene.kind)
        assert 1 <= len(objects) <= 4
        # label maps: exactly the objects' classes, same foreground support
        assert np.array_equal(sample.shape_label > 0, sample.color_label > 0)
        assert set(np.unique(sample.shape_label)) - {0} == {SHAPE_IDS[o.shape] for o in objects}
        assert set(np.unique(sample.color_label)) - {0} == {COLOR_IDS[o.color] for o in objects}
        for o in objects:  # every object is visible as its own (colour, shape)
            mask = (sample.shape_label == SHAPE_IDS[o.shape]) & (
                sample.color_label == COLOR_IDS[o.color])
            assert mask.sum() >= 20, (index, o)
        # caption: every named colour / shape is visible; nothing else is named
        colors, shapes = caption_words(sample.caption)
        assert colors | shapes, sample.caption
        visible_colors = {c for c in COLORS if (sample.color_label == COLOR_IDS[c]).any()}
        visible_shapes = {s for s in SHAPES if (sample.shape_label == SHAPE_IDS[s]).any()}
        assert colors <= visible_colors, (sample.caption, visible_colors)
        assert shapes <= visible_shapes, (sample.caption, visible_shapes)
        if sample.scene.kind == "same_color" and len(objects) > 1:
            assert len({o.color for o in objects}) == 1
            assert shapes == {o.shape for o in objects}, sample.caption
        if sample.scene.kind == "same_shape" and len(objects) > 1:
            assert len({o.shape for o in objects}) == 1
            assert colors == {o.color for o in objects}, sample.caption
    assert kinds == {"mixed", "same_color", "same_shape"}


@pytest.mark.parametrize("shape_only", [0.0, 0.25, 1.0])
def test_same_colour_scenes_name_shapes_only_at_the_given_rate(shape_only):
    spec = WorldSpec(size=32, seed=5, kind_fractions=(0.0, 1.0, 0.0), same_color_shape_only=shape_only)
    captions = [generate_sample(spec, "train", i).caption for i in range(200)]
    named = [caption_words(c) for c in captions]
    assert all(shapes for _, shapes in named)
    rate = sum(not colors for colors, _ in named) / len(named)
    assert abs(rate - shape_only) < 0.08, rate


def _touching_pairs(sample):
    """Pairs of objects of one colour whose pixels overlap or touch (8-neighbourhood)."""
    objects = sample.scene.objects
    masks = [rasterize([o], sample.image.shape[0]) > 0 for o in objects]
    grown = [binary_dilation(m, np.ones((3, 3), bool)) for m in masks]
    return [(i, j) for i in range(len(objects)) for j in range(i + 1, len(objects))
            if objects[i].color == objects[j].color and (grown[i] & masks[j]).any()]


def test_objects_of_one_colour_never_touch_unless_allowed():
    """Same-colour objects that overlap merge into one blob whose shapes a caption cannot be matched to."""
    kinds = (0.0, 1.0, 0.0)
    separate = [generate_sample(WorldSpec(size=64, seed=2, kind_fractions=kinds, min_objects=2), "train", i) for i in range(150)]
    assert not any(_touching_pairs(s) for s in separate)
    assert np.mean([len(s.scene.objects) for s in separate]) > 2.4  # crowded layouts are redrawn, rarely dropped
    merged = WorldSpec(size=64, seed=2, kind_fractions=kinds, separate_same_color=False)
    assert sum(bool(_touching_pairs(generate_sample(merged, "train", i))) for i in range(150)) > 50


def test_min_objects_sets_the_fewest_objects_of_same_colour_scenes():
    kinds = (0.0, 1.0, 0.0)
    counts = {m: [len(generate_sample(WorldSpec(size=64, seed=3, kind_fractions=kinds, min_objects=m), "train", i).scene.objects)
                  for i in range(80)] for m in (1, 3)}
    assert 1 in counts[1]
    assert np.mean(np.array(counts[3]) >= 3) > 0.85  # a layout that cannot keep them apart drops some
    assert np.mean(counts[3]) > np.mean(counts[1]) + 0.8
    with pytest.raises(ValueError, match="min_objects"):
        WorldSpec(min_objects=0)


def test_heldout_scenes_are_mixed_whatever_the_kind_fractions():
    """A world without mixed training scenes still has held-out images (each a held-out pair among others)."""
    spec = WorldSpec(size=32, seed=4, kind_fractions=(0.0, 1.0, 0.0))
    assert {generate_sample(spec, "train", i).scene.kind for i in range(20)} == {"same_color"}
    heldout = [generate_sample(spec, "heldout", i).scene for i in range(20)]
    assert {s.kind for s in heldout} == {"mixed"}
    assert all(any((o.color, o.shape) in HELDOUT_PAIRS for o in s.objects) for s in heldout)
    for bad in ((0.0, 0.0, 0.0), (0.5, -0.1, 0.6), (0.5, 0.5)):
        with pytest.raises(ValueError, match="kind_fractions"):
            WorldSpec(kind_fractions=bad)


def test_pixels_have_their_label_colour_and_backgrounds_are_grey():
    dist, bg_sat = [], []
    rgb = np.array(list(COLORS.values()), float)
    for index in range(60):
        s = generate_sample(SPEC, "val", index)
        fg = s.color_label > 0
        pixels = s.image[fg].astype(float)
        nearest = np.linalg.norm(pixels[:, None] - rgb[None], axis=2).argmin(1) + 1
        dist.append((nearest == s.color_label[fg]).mean())
        bg = s.image[~fg].reshape(-1, 3) / 255.0
        bg_sat.append(np.median([colorsys.rgb_to_hsv(*p)[1] for p in bg[::7]]))
    assert np.mean(dist) > 0.95  # a labelled pixel is nearest to its class colour
    assert max(bg_sat) < 0.3


def test_heldout_pairs_never_in_train_and_present_in_val():
    held = set(SPEC.heldout_pairs)
    assert held == set(HELDOUT_PAIRS) and len(held) >= 6
    train_pairs = set(allowed_pairs(SPEC, "train"))
    assert not held & train_pairs
    assert {c for c, _ in train_pairs} == set(COLORS)  # every attribute still seen in training
    assert {s for _, s in train_pairs} == set(SHAPES)
    for index in range(300):
        sample = generate_sample(SPEC, "train", index)
        meta = sample.meta()
        assert not {(o["color"], o["shape"]) for o in meta["objects"]} & held
        for color, shape in held:
            assert f"{color} {shape}" not in sample.caption
    val_pairs = {(o.color, o.shape) for i in range(100)
                 for o in generate_sample(SPEC, "val", i).scene.objects}
    assert val_pairs & held and val_pairs - held
    for index in range(30):
        assert all((o.color, o.shape) in held
                   for o in generate_sample(SPEC, "heldout", index).scene.objects)


def write_tiny(root, workers=1, spec=SPEC):
    return write_world(str(root), spec, num_train=25, num_val=12, num_heldout=6,
                       shard_size=10, workers=workers, progress=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    write_tiny(root)
    return root


def test_shards_are_readable_webdataset(world):
    urls = sorted(str(p) for p in (world / "train").glob("shard-*.tar"))
    assert [os.path.basename(u) for u in urls] == [f"shard-{i:06d}.tar" for i in range(3)]
    samples = list(wds.WebDataset(urls, shardshuffle=False).decode("pil"))
    assert [s["__key__"] for s in samples] == [f"{i:09d}" for i in range(25)]
    for i, s in enumerate(samples):
        assert {"png", "txt", "json"} <= set(s)
        assert isinstance(s["png"], Image.Image) and s["png"].size == (64, 64)
        assert s["json"]["caption"] == s["txt"]
        assert s["txt"] == generate_sample(SPEC, "train", i).caption
        assert all(set(o) >= {"color", "shape"} for o in s["json"]["objects"])
    assert (world / "train" / "DONE").exists() and load_spec(str(world)) == SPEC
    for split, n in (("val", 12), ("heldout", 6)):
        label = Image.open(world / split / "shapes" / "000000.png")
        assert label.mode == "L" and label.size == (64, 64)
        assert len(list((world / split / "images").glob("*.png"))) == n
        expected = generate_sample(SPEC, split, 0)
        assert np.array_equal(np.asarray(Image.open(world / split / "colors" / "000000.png")),
                              expected.color_label)


def test_registration(world):
    default = os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"), "synthetic")
    try:
        register_synthetic(str(world))
        register_synthetic(str(world))  # re-registering replaces, never raises
        dicts = DatasetCatalog.get("synthetic_shapes_val")
        assert len(dicts) == 12
        for d in dicts:
            assert os.path.exists(d["file_name"]) and os.path.exists(d["sem_seg_file_name"])
            assert d["height"] == d["width"] == 64 and "image_id" in d
        assert "/shapes/" in dicts[0]["sem_seg_file_name"]
        assert "/colors/" in DatasetCatalog.get("synthetic_heldout_val")[0]["sem_seg_file_name"]
        assert len(DatasetCatalog.get("synthetic_heldout_shapes_val")) == 6
        meta = MetadataCatalog.get("synthetic_shapes_val")
        assert meta.stuff_classes[0] == "background"
        assert meta.stuff_classes[1:] == list(SHAPES)
        assert len(meta.stuff_colors) == len(meta.stuff_classes)
        assert meta.ignore_label == 255 and meta.evaluator_type == "sem_seg"
        colors_meta = MetadataCatalog.get("synthetic_colors_val")
        assert colors_meta.stuff_classes == ["background"] + list(COLORS)
        assert colors_meta.stuff_colors[1] == list(COLORS["red"])
        register_synthetic(str(world / "absent"))
        with pytest.raises(FileNotFoundError, match="make_synthetic_world"):
            DatasetCatalog.get("synthetic_colors_val")
    finally:
        register_synthetic(default)


def snapshot(root):
    return {os.path.relpath(os.path.join(d, f), root): open(os.path.join(d, f), "rb").read()
            for d, _, files in os.walk(root) for f in files}


def test_writer_resumes_and_skips_finished_splits(world, tmp_path):
    root = tmp_path / "w"
    shutil.copytree(world, root)
    before = snapshot(root)
    os.remove(root / "val" / "DONE")
    os.remove(root / "val" / "images" / "000003.png")
    os.remove(root / "train" / "DONE")
    os.remove(root / "train" / "shard-000001.tar")
    (root / "val" / "images" / "000004.png.tmp").write_bytes(b"half")  # interrupted write
    heldout_mtime = os.stat(root / "heldout" / "images" / "000000.png").st_mtime_ns
    shard0_mtime = os.stat(root / "train" / "shard-000000.tar").st_mtime_ns
    write_tiny(root)
    assert snapshot(root) == before
    assert os.stat(root / "heldout" / "images" / "000000.png").st_mtime_ns == heldout_mtime
    assert os.stat(root / "train" / "shard-000000.tar").st_mtime_ns == shard0_mtime
    with pytest.raises(ValueError, match="different spec"):
        write_tiny(root, spec=WorldSpec(size=64, seed=4))


def test_writer_regenerates_splits_of_another_origin(world, tmp_path):
    """Files left by an older generator (no ORIGIN) or another spec are not resumed from."""
    root = tmp_path / "w"
    shutil.copytree(world, root)
    before = snapshot(root)
    (root / "val" / "images" / "000001.png").write_bytes(b"an older world's image")
    (root / "train" / "shard-000000.tar").write_bytes(b"an older world's shard")
    for split in ("val", "train"):
        os.remove(root / split / "DONE")
        os.remove(root / split / "ORIGIN")
    write_tiny(root)
    assert snapshot(root) == before


def test_parallel_writer_gives_the_same_bytes(world, tmp_path):
    write_tiny(tmp_path, workers=2)
    assert snapshot(tmp_path) == snapshot(world)


def test_make_synthetic_world_takes_world_spec_fields_as_json(tmp_path):
    tool = load_script("tools/make_synthetic_world.py")
    tool.main(["--root", str(tmp_path), "--num-train", "3", "--num-val", "2", "--num-heldout", "1",
               "--shard-size", "3", "--workers", "1", "--world", '{"min_objects": 3, "max_objects": 3}'])
    spec = json.loads((tmp_path / "world.json").read_text())["spec"]
    assert (spec["min_objects"], spec["max_objects"], spec["size"]) == (3, 3, 64)
