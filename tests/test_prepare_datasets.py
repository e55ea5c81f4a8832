"""The dataset converters on tiny fake copies of the official downloads, the catalog
registrations that read their output, and Detectron2's SemSegEvaluator on that output."""

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_util
import pytest
import scipy.io
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.datasets import load_sem_seg
from detectron2.evaluation import SemSegEvaluator
from PIL import Image

from pseg_d2.data.datasets import prepare_utils
from pseg_d2.data.datasets.manifest import MANIFEST
from pseg_d2.data.datasets.class_names import (
    COCO_CLASSES,
    COCO_STUFF_CLASSES,
    COCO_THING_IDS,
    PASCAL_CONTEXT_59_CLASSES,
    VOC_CLASSES,
    pascal_palette,
)
from pseg_d2.data.datasets.register_coco_object import register_all_coco_object
from pseg_d2.data.datasets.register_coco_stuff import register_all_coco_stuff
from pseg_d2.data.datasets.register_pascal_context import register_all_pascal_context
from pseg_d2.data.datasets.register_voc import register_all_voc

REPO = Path(__file__).resolve().parents[1]
REGISTER_ALL = (
    register_all_voc,
    register_all_pascal_context,
    register_all_coco_object,
    register_all_coco_stuff,
)


def load_script(name):
    """Import ``datasets/prepare_<name>.py`` by path (``datasets`` is not a package)."""
    spec = importlib.util.spec_from_file_location(
        f"prepare_{name}", REPO / "datasets" / f"prepare_{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_jpg(path, h, w):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.full((h, w, 3), 128, dtype=np.uint8)).save(path)


def read_png(path):
    with Image.open(path) as img:
        assert img.mode == "L", path
        return np.array(img)


# ---------------------------------------------------------------- fake official downloads

# VOC palette-index maps: 0 background, 1..20, 255 = the boundary band.
VOC_LABELS = {
    "train": {
        "2007_000032": np.array([[0, 0, 1, 1], [0, 255, 1, 1], [0, 255, 255, 7]], dtype=np.uint8),
        "2007_000039": np.array([[12, 12, 0, 0], [12, 255, 0, 0], [0, 0, 0, 3]], dtype=np.uint8),
    },
    "val": {
        "2007_000033": np.array(
            [
                [0, 0, 1, 1, 255, 15, 15],
                [0, 0, 1, 1, 255, 15, 15],
                [0, 255, 255, 255, 255, 15, 15],
                [20, 20, 20, 0, 0, 15, 15],
            ],
            dtype=np.uint8,
        ),
        "2007_000042": np.array([[0, 0, 0], [0, 15, 0], [255, 255, 255]], dtype=np.uint8),
    },
}
# The same val maps without background: 0 -> 255, k -> k - 1, 255 -> 255 (written by hand).
VOC_VAL_NOBG = {
    "2007_000033": np.array(
        [
            [255, 255, 0, 0, 255, 14, 14],
            [255, 255, 0, 0, 255, 14, 14],
            [255, 255, 255, 255, 255, 14, 14],
            [19, 19, 19, 255, 255, 14, 14],
        ],
        dtype=np.uint8,
    ),
    "2007_000042": np.array([[255, 255, 255], [255, 14, 255], [255, 255, 255]], dtype=np.uint8),
}


def make_voc(root):
    voc = os.path.join(root, "VOCdevkit", "VOC2012")
    palette = [v for color in pascal_palette(256) for v in color]
    for split, labels in VOC_LABELS.items():
        os.makedirs(os.path.join(voc, "ImageSets", "Segmentation"), exist_ok=True)
        with open(os.path.join(voc, "ImageSets", "Segmentation", f"{split}.txt"), "w") as f:
            f.write("\n".join(labels) + "\n")
        for image_id, label in labels.items():
            write_jpg(os.path.join(voc, "JPEGImages", f"{image_id}.jpg"), *label.shape)
            img = Image.fromarray(label)
            img.putpalette(palette)  # mode "P", as in SegmentationClass
            os.makedirs(os.path.join(voc, "SegmentationClass"), exist_ok=True)
            img.save(os.path.join(voc, "SegmentationClass", f"{image_id}.png"))
    write_jpg(os.path.join(voc, "JPEGImages", "2007_000099.jpg"), 4, 4)  # in no split


# Pascal Context 459-class LabelMaps: 2 aeroplane, 284 person, 427 tvmonitor, 458 wood are
# among the 59; 1 (accordion), 3 (air conditioner) and 0 are not.
PC_RAW = {
    "train": {"2008_000002": np.array([[2, 2, 1], [458, 0, 284]], dtype=np.uint16)},
    "val": {
        "2008_000003": np.array(
            [[284, 284, 1, 3], [427, 427, 2, 0], [458, 458, 458, 3]], dtype=np.uint16
        )
    },
}
PC59 = {  # 59 list index, 255 for everything else
    "2008_000002": np.array([[0, 0, 255], [58, 255, 36]], dtype=np.uint8),
    "2008_000003": np.array(
        [[36, 36, 255, 255], [54, 54, 0, 255], [58, 58, 58, 255]], dtype=np.uint8
    ),
}
PC60 = {  # 0 background (everything else), 1..59
    "2008_000002": np.array([[1, 1, 0], [59, 0, 37]], dtype=np.uint8),
    "2008_000003": np.array([[37, 37, 0, 0], [55, 55, 1, 0], [59, 59, 59, 0]], dtype=np.uint8),
}


def make_pascal_context(root, detail_json=False):
    voc = os.path.join(root, "VOCdevkit", "VOC2010")
    images, anns = [], []
    for split, maps in PC_RAW.items():
        os.makedirs(os.path.join(voc, "ImageSets", "Main"), exist_ok=True)
        with open(os.path.join(voc, "ImageSets", "Main", f"{split}.txt"), "w") as f:
            f.write("\n".join(maps) + "\n")
        for image_id, raw in maps.items():
            write_jpg(os.path.join(voc, "JPEGImages", f"{image_id}.jpg"), *raw.shape)
            os.makedirs(os.path.join(voc, "trainval"), exist_ok=True)
            scipy.io.savemat(os.path.join(voc, "trainval", f"{image_id}.mat"), {"LabelMap": raw})
            numeric_id = int(image_id.replace("_", ""))
            images.append(
                {"image_id": numeric_id, "file_name": f"{image_id}.jpg", "phase": split,
                 "height": raw.shape[0], "width": raw.shape[1]}
            )  # fmt: skip
            for cat in np.unique(raw[raw > 0]):
                rle = compressed_rle((raw == cat).astype(np.uint8))
                anns.append({"image_id": numeric_id, "category_id": int(cat), "segmentation": rle})
    if detail_json:
        with open(os.path.join(voc, "trainval_merged.json"), "w") as f:
            json.dump({"images": images, "annos_segmentation": anns}, f)


def compressed_rle(mask):
    """COCO's compressed RLE, with the counts as a JSON string."""
    rle = mask_util.encode(np.asfortranarray(mask))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def uncompressed_rle(mask):
    """COCO's uncompressed RLE (column-major runs, starting with a run of zeros)."""
    flat = mask.flatten(order="F").astype(np.uint8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    if flat[0] == 1:
        runs = [0] + runs
    return {"counts": runs, "size": list(mask.shape)}


def box_polygon(y0, y1, x0, x1):
    """A polygon that pycocotools rasterises to rows y0..y1-1, columns x0..x1-1."""
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def box_mask(shape, y0, y1, x0, x1):
    mask = np.zeros(shape, dtype=np.uint8)
    mask[y0:y1, x0:x1] = 1
    return mask


COCO_SHAPE = (20, 24)
PERSON, CAR, DOG, TOOTHBRUSH = 1, 3, 17, 80  # labels: category-id order of the 80 things


def coco_object_expected():
    """Hand-written result for the fake COCO image 1 (see make_coco) under ``--rule pseg``."""
    label = np.zeros(COCO_SHAPE, dtype=np.uint8)
    label[0:8, 0:10] = PERSON
    label[0:10, 12:22] = CAR  # first car (polygon)
    label[3:7, 14:18] = DOG  # small dog on the car: larger instances are painted first
    label[12:18, 0:6] = CAR  # second car (RLE), merged with the first into one class
    label[10:20, 8:24] = 255  # crowd of people: ignored ...
    label[14:18, 18:22] = TOOTHBRUSH  # ... except under a non-crowd instance
    return label


def make_coco(root):
    coco = os.path.join(root, "coco")
    write_jpg(os.path.join(coco, "val2017", "000000000001.jpg"), *COCO_SHAPE)
    write_jpg(os.path.join(coco, "val2017", "000000000002.jpg"), 10, 10)
    anns = [
        # the dog comes before the car it sits on: file order must not decide the overlap
        (DOG, 18, compressed_rle(box_mask(COCO_SHAPE, 3, 7, 14, 18)), 0),
        (PERSON, 1, box_polygon(0, 8, 0, 10), 0),
        (CAR, 3, box_polygon(0, 10, 12, 22), 0),
        (CAR, 3, compressed_rle(box_mask(COCO_SHAPE, 12, 18, 0, 6)), 0),
        (PERSON, 1, uncompressed_rle(box_mask(COCO_SHAPE, 10, 20, 8, 24)), 1),
        (TOOTHBRUSH, 90, box_polygon(14, 18, 18, 22), 0),
    ]
    data = {
        "images": [
            {"id": 1, "file_name": "000000000001.jpg", "height": 20, "width": 24},  # COCO_SHAPE
            {"id": 2, "file_name": "000000000002.jpg", "height": 10, "width": 10},
        ],
        "annotations": [
            {"id": i + 1, "image_id": 1, "category_id": cat, "segmentation": seg, "iscrowd": crowd,
             "area": 1.0, "bbox": [0, 0, 1, 1]}
            for i, (_, cat, seg, crowd) in enumerate(anns)
        ],
        "categories": [{"id": i, "name": n} for i, n in zip(COCO_THING_IDS, COCO_CLASSES)],
    }  # fmt: skip
    os.makedirs(os.path.join(coco, "annotations"), exist_ok=True)
    with open(os.path.join(coco, "annotations", "instances_val2017.json"), "w") as f:
        json.dump(data, f)


# stuffthingmaps values (category id - 1): 0 person, 89 toothbrush, 91 banner, 100 carpet,
# 181 wood are categories; 11 and 90 are unused ids; 182 is "other"; 255 unlabelled.
STUFF_RAW = np.array([[0, 11, 90, 91], [181, 255, 89, 182], [100, 0, 0, 0]], dtype=np.uint8)
STUFF_171 = np.array([[0, 255, 255, 80], [170, 255, 79, 255], [89, 0, 0, 0]], dtype=np.uint8)


def make_coco_stuff(root):
    coco = os.path.join(root, "coco")
    write_jpg(os.path.join(coco, "val2017", "000000000001.jpg"), *STUFF_RAW.shape)
    os.makedirs(os.path.join(coco, "stuffthingmaps", "val2017"), exist_ok=True)
    Image.fromarray(STUFF_RAW).save(
        os.path.join(coco, "stuffthingmaps", "val2017", "000000000001.png")
    )


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def restore_default_registrations():
    """Tests point the catalog names at fake roots; put the default roots back afterwards."""
    yield
    for register in REGISTER_ALL:
        register(prepare_utils.default_root())


@pytest.fixture(scope="module")
def prepared_root(tmp_path_factory):
    """A fake datasets root with every dataset prepared (COCO-Stuff in its own root, since
    it shares coco/val2017 with COCO-Object)."""
    root = str(tmp_path_factory.mktemp("datasets"))
    make_voc(root)
    make_pascal_context(root)
    make_coco(root)
    load_script("voc").main(["--root", root])
    load_script("pascal_context").main(["--root", root])
    load_script("coco_object").main(["--root", root, "--splits", "val", "--rule", "pseg"])
    stuff_root = str(tmp_path_factory.mktemp("datasets_stuff"))
    make_coco_stuff(stuff_root)
    load_script("coco_stuff").main(["--root", stuff_root, "--splits", "val"])
    return root, stuff_root


# ---------------------------------------------------------------- label values


def test_voc_labels_and_nobg(prepared_root):
    root, _ = prepared_root
    out = os.path.join(root, "VOCdevkit", "VOC2012")
    for split, labels in VOC_LABELS.items():
        for image_id, label in labels.items():
            got = read_png(os.path.join(out, "annotations_detectron2", split, f"{image_id}.png"))
            np.testing.assert_array_equal(got, label)
    for image_id, expected in VOC_VAL_NOBG.items():
        got = read_png(os.path.join(out, "annotations_detectron2_nobg", "val", f"{image_id}.png"))
        np.testing.assert_array_equal(got, expected)
    assert not os.path.exists(os.path.join(out, "annotations_detectron2_nobg", "train"))


def test_pascal_context_labels(prepared_root):
    root, _ = prepared_root
    out = os.path.join(root, "VOCdevkit", "VOC2010", "annotations_detectron2")
    for split, maps in PC_RAW.items():
        for image_id in maps:
            np.testing.assert_array_equal(
                read_png(f"{out}/pc59/{split}/{image_id}.png"), PC59[image_id]
            )
            np.testing.assert_array_equal(
                read_png(f"{out}/pc60/{split}/{image_id}.png"), PC60[image_id]
            )


def test_pascal_context_detail_json_matches_mat(tmp_path):
    make_pascal_context(str(tmp_path), detail_json=True)
    json_path = tmp_path / "VOCdevkit" / "VOC2010" / "trainval_merged.json"
    os.remove(tmp_path / "VOCdevkit" / "VOC2010" / "ImageSets" / "Main" / "val.txt")  # unused
    load_script("pascal_context").main(["--root", str(tmp_path), "--detail-json", str(json_path)])
    out = tmp_path / "VOCdevkit" / "VOC2010" / "annotations_detectron2"
    for split, maps in PC_RAW.items():
        for image_id in maps:
            np.testing.assert_array_equal(
                read_png(out / "pc59" / split / f"{image_id}.png"), PC59[image_id]
            )
            np.testing.assert_array_equal(
                read_png(out / "pc60" / split / f"{image_id}.png"), PC60[image_id]
            )


def test_pascal_context_table_matches_class_names():
    table = load_script("pascal_context").PASCAL_CONTEXT_59
    ids = [i for i, _ in table]
    assert len(table) == len(PASCAL_CONTEXT_59_CLASSES) == 59
    assert ids == sorted(set(ids))  # labels follow the 459-list order
    renamed = {"aeroplane": "airplane", "pottedplant": "plant", "tvmonitor": "monitor"}
    assert [renamed.get(n, n) for _, n in table] == PASCAL_CONTEXT_59_CLASSES


def test_coco_object_labels(prepared_root):
    root, _ = prepared_root
    out = os.path.join(root, "coco", "object_detectron2", "val2017")
    np.testing.assert_array_equal(read_png(f"{out}/000000000001.png"), coco_object_expected())
    np.testing.assert_array_equal(read_png(f"{out}/000000000002.png"), np.zeros((10, 10)))


def test_coco_stuff_labels(prepared_root):
    _, stuff_root = prepared_root
    got = read_png(
        os.path.join(stuff_root, "coco", "stuffthingmaps_detectron2", "val2017", "000000000001.png")
    )
    np.testing.assert_array_equal(got, STUFF_171)
    assert COCO_STUFF_CLASSES[80] == "banner" and COCO_STUFF_CLASSES[170] == "wood"


def test_class_tables():
    assert len(VOC_CLASSES) == 20 and VOC_CLASSES[15] == "plant"
    assert COCO_CLASSES[DOG - 1] == "dog" and COCO_CLASSES[TOOTHBRUSH - 1] == "toothbrush"
    assert pascal_palette(3) == [[0, 0, 0], [128, 0, 0], [0, 128, 0]]  # VOC's own palette


# ---------------------------------------------------------------- resumability, errors


def test_rerun_skips_and_interrupted_run_recovers(tmp_path, monkeypatch):
    root = str(tmp_path)
    make_voc(root)
    voc = load_script("voc")
    out_dir = os.path.join(root, "VOCdevkit", "VOC2012", "annotations_detectron2", "train")
    first, second = sorted(VOC_LABELS["train"])

    # An interrupted run: the second item's temp file is written but never renamed.
    real_replace, calls = os.replace, []

    def replace_then_die(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(prepare_utils.os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        voc.main(["--root", root, "--splits", "train"])
    monkeypatch.undo()
    assert not os.path.exists(os.path.join(out_dir, f"{second}.png"))
    with open(os.path.join(out_dir, f"{second}.png.tmp"), "wb") as f:
        f.write(b"\x89PNG half-written")  # as if killed mid-write
    assert len(load_sem_seg(out_dir, os.path.join(root, "VOCdevkit", "VOC2012", "JPEGImages"))) == 1

    assert not os.path.exists(os.path.join(out_dir, MANIFEST))  # the interrupted split is not published

    stats = voc.main(["--root", root, "--splits", "train"])["train"]
    assert (stats.written, stats.skipped) == (1, 1)
    assert sorted(os.listdir(out_dir)) == [f"{first}.png", f"{second}.png", MANIFEST]
    for image_id, label in VOC_LABELS["train"].items():
        np.testing.assert_array_equal(read_png(os.path.join(out_dir, f"{image_id}.png")), label)

    pngs = [f for f in os.listdir(out_dir) if f.endswith(".png")]
    mtimes = {f: os.stat(os.path.join(out_dir, f)).st_mtime_ns for f in pngs}
    stats = voc.main(["--root", root, "--splits", "train"])["train"]
    assert (stats.written, stats.skipped) == (0, 2)
    assert mtimes == {f: os.stat(os.path.join(out_dir, f)).st_mtime_ns for f in pngs}


@pytest.mark.parametrize("name", ["voc", "pascal_context", "coco_object", "coco_stuff"])
def test_missing_inputs_fail_clearly(tmp_path, name):
    with pytest.raises(FileNotFoundError, match="README"):
        load_script(name).main(["--root", str(tmp_path)])


def test_missing_mat_files_are_listed(tmp_path):
    make_pascal_context(str(tmp_path))
    os.remove(tmp_path / "VOCdevkit" / "VOC2010" / "trainval" / "2008_000003.mat")
    with pytest.raises(FileNotFoundError, match="2008_000003.mat"):
        load_script("pascal_context").main(["--root", str(tmp_path)])


# ---------------------------------------------------------------- registration, evaluation

EXPECTED_DATASETS = {  # name: (number of images, number of classes, which root)
    "voc_2012_sem_seg_train": (2, 21, 0),
    "voc_2012_sem_seg_val": (2, 21, 0),
    "voc_2012_sem_seg_val_nobg": (2, 20, 0),
    "pascal_context_59_sem_seg_train": (1, 59, 0),
    "pascal_context_59_sem_seg_val": (1, 59, 0),
    "pascal_context_60_sem_seg_train": (1, 60, 0),
    "pascal_context_60_sem_seg_val": (1, 60, 0),
    "coco_object_sem_seg_val": (2, 81, 0),
    "coco_stuff_164k_sem_seg_val": (1, 171, 1),
}


def register_fake(prepared_root):
    root, stuff_root = prepared_root
    for register in REGISTER_ALL:
        register(stuff_root if register is register_all_coco_stuff else root)


def test_registered_datasets_point_at_prepared_files(prepared_root, tmp_path):
    for register in REGISTER_ALL:  # absent data: registering must not fail
        register(str(tmp_path / "absent"))
    register_fake(prepared_root)
    register_fake(prepared_root)  # re-registration replaces, never raises
    for name, (num_images, num_classes, which) in EXPECTED_DATASETS.items():
        dicts = DatasetCatalog.get(name)
        assert len(dicts) == num_images, name
        for d in dicts:
            assert os.path.isfile(d["file_name"]) and os.path.isfile(d["sem_seg_file_name"])
            assert Path(d["file_name"]).stem == Path(d["sem_seg_file_name"]).stem
            assert d["sem_seg_file_name"].startswith(prepared_root[which])
        meta = MetadataCatalog.get(name)
        assert len(meta.stuff_classes) == len(meta.stuff_colors) == num_classes
        assert (meta.ignore_label, meta.evaluator_type) == (255, "sem_seg")
        assert os.path.isdir(meta.image_root) and os.path.isdir(meta.sem_seg_root)
    assert MetadataCatalog.get("voc_2012_sem_seg_val").stuff_classes[0] == "background"
    assert MetadataCatalog.get("voc_2012_sem_seg_val_nobg").stuff_classes[0] == "aeroplane"


def one_hot(label, num_classes):
    """[C, H, W] scores whose argmax is ``label`` (ignored pixels get class 0)."""
    label = torch.as_tensor(label.astype(np.int64))
    label[label == 255] = 0
    return torch.nn.functional.one_hot(label, num_classes).permute(2, 0, 1).float()


def evaluate(name, predict):
    """mIoU of ``predict(gt_label) -> pred_label`` over dataset ``name``."""
    num_classes = len(MetadataCatalog.get(name).stuff_classes)
    evaluator = SemSegEvaluator(name, distributed=False)
    evaluator.reset()
    for d in DatasetCatalog.get(name):
        pred = predict(read_png(d["sem_seg_file_name"]), d["file_name"])
        evaluator.process([d], [{"sem_seg": one_hot(pred, num_classes)}])
    return evaluator.evaluate()["sem_seg"]["mIoU"]


def test_ground_truth_as_prediction_scores_100(prepared_root):
    register_fake(prepared_root)
    for name in EXPECTED_DATASETS:
        assert evaluate(name, lambda gt, _: gt) == pytest.approx(100.0), name


def test_corrupted_prediction_gives_hand_computed_miou(prepared_root):
    register_fake(prepared_root)

    def relabel_half_of_person(gt, file_name):
        pred = gt.copy()
        if file_name.endswith("2007_000033.jpg"):
            assert (gt == 15).sum() == 8
            pred[0:2, 5:7] = 20  # 4 of the image's 8 person pixels become class 20
        return pred

    # Val ground truth over both images: background 7 + 5 = 12 px, aeroplane 4,
    # person 8 + 1 = 9, class 20: 3. Prediction: 4 person pixels called class 20.
    # IoU: background 1, aeroplane 1, person (9 - 4) / 9, class 20: 3 / (3 + 4).
    expected = 100 * (1 + 1 + 5 / 9 + 3 / 7) / 4
    assert evaluate("voc_2012_sem_seg_val", relabel_half_of_person) == pytest.approx(expected)


# ---------------------------------------------------------------- unreadable inputs: skipped, named, never published

# (converter, its fake download, the input file to break (relative to the root), a dataset that reads the split)
BREAKABLE = {
    "voc": (make_voc, "VOCdevkit/VOC2012/SegmentationClass/2007_000042.png", "voc_2012_sem_seg_val"),
    "pascal_context": (make_pascal_context, "VOCdevkit/VOC2010/trainval/2008_000003.mat",
                       "pascal_context_59_sem_seg_val"),
    "coco_stuff": (make_coco_stuff, "coco/stuffthingmaps/val2017/000000000001.png", "coco_stuff_164k_sem_seg_val"),
}


@pytest.mark.parametrize("damage", [b"", b"\x89PNG\r\n\x1a\n truncated"], ids=["empty", "corrupt"])
@pytest.mark.parametrize("name", sorted(BREAKABLE))
def test_an_unreadable_input_is_named_and_its_split_never_registered(tmp_path, name, damage, caplog):
    make, broken, dataset = BREAKABLE[name]
    root = str(tmp_path)
    make(root)
    source = tmp_path / broken
    good = source.read_bytes()
    source.write_bytes(damage)
    converter = load_script(name)
    args = ["--root", root, "--splits", "val"]
    stats = converter.main(args)["val"]
    assert len(stats.failed) == 1 and Path(broken).stem in stats.failed[0]
    assert Path(broken).stem in caplog.text  # named in the log (stderr on the command line)
    register_fake((root, root))
    with pytest.raises(FileNotFoundError, match="run datasets/prepare_.*rerunning it finishes"):
        DatasetCatalog.get(dataset)  # the images converted before it are not taken for the split
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.argv", ["prepare", *args])
        with pytest.raises(SystemExit, match="1 input.* could not be converted .*not published: split.* val") as info:
            prepare_utils.run_cli(converter.main)
    assert info.value.code != 0

    source.write_bytes(good)  # the file replaced: rerunning finishes the split
    stats = converter.main(args)["val"]
    assert stats.failed == () and stats.written == 1
    assert len(DatasetCatalog.get(dataset)) == EXPECTED_DATASETS[dataset][0]


def test_a_label_folder_changed_after_conversion_is_refused(tmp_path):
    root = str(tmp_path)
    make_voc(root)
    load_script("voc").main(["--root", root, "--splits", "val"])
    register_all_voc(root)
    assert len(DatasetCatalog.get("voc_2012_sem_seg_val")) == 2
    os.remove(tmp_path / "VOCdevkit" / "VOC2012" / "annotations_detectron2" / "val" / "2007_000042.png")
    with pytest.raises(ValueError, match="holds 1 label PNGs, but its conversion wrote 2"):
        DatasetCatalog.get("voc_2012_sem_seg_val")


@pytest.mark.parametrize("edit, message", [
    (lambda data: data.pop("categories"), "has no 'categories' field: is it a COCO instances file"),
    (lambda data: data["annotations"][0].update(category_id=999),
     r"1 annotation\(s\) have a category_id that is not in its 'categories', e.g. 999 \(annotation 1, image 1\)"),
    (None, "is not valid JSON"),
])
def test_coco_object_explains_a_malformed_json(tmp_path, edit, message):
    make_coco(str(tmp_path))
    path = tmp_path / "coco" / "annotations" / "instances_val2017.json"
    if edit is None:
        path.write_text('{"images": [')
    else:
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("sys.argv", ["prepare", "--root", str(tmp_path), "--splits", "val"])
        with pytest.raises(SystemExit, match=message) as info:
            prepare_utils.run_cli(load_script("coco_object").main)
    assert "\n" not in str(info.value.code).split(" See datasets/README.md")[0]
