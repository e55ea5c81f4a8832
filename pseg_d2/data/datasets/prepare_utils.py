"""Helpers shared by the ``datasets/prepare_*.py`` converters.

Every converter maps official annotations to uint8 label PNGs (mode "L"). Writes are atomic
(a ``<name>.png.tmp`` file, then ``os.replace``), so an interrupted run never leaves a
half-written PNG; a rerun skips items whose outputs all exist and redoes the rest. The
temporary suffix is not ``.png``, so ``load_sem_seg`` never picks a leftover one up.

An input that cannot be read (a corrupt or empty file) is skipped, counted and named, and the
conversion goes on; a split is published (its :mod:`.manifest` record written) only when every item
is converted, so the catalog never reads a partial split, and the exit status is nonzero.
"""

import argparse
import json
import logging
import os
import sys
from typing import Callable, Iterable, List, NamedTuple, Sequence, Tuple, TypeVar

import numpy as np
from PIL import Image
from pycocotools.coco import COCO
from tqdm import tqdm

from .manifest import remove_manifest, write_manifest

Item = TypeVar("Item")
logger = logging.getLogger(__name__)

README_HINT = "See datasets/README.md for where to download it and where to put it."


class ConvertStats(NamedTuple):
    """How many items a converter wrote, how many it skipped (outputs already present), and the
    items it could not convert ("<item>: <why>"); the split is published only when ``failed`` is empty."""

    written: int
    skipped: int
    failed: Tuple[str, ...] = ()


def default_root() -> str:
    """The datasets root: ``$DETECTRON2_DATASETS``, else ``datasets``."""
    return os.getenv("DETECTRON2_DATASETS", "datasets")


def make_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the ``--root`` option every converter takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--root",
        default=default_root(),
        help="datasets root (default: $DETECTRON2_DATASETS, else ./datasets)",
    )
    return parser


def run_cli(main: Callable[[Sequence[str]], dict]) -> None:
    """Run a converter's ``main`` (returning ``{split: ConvertStats}``) on the command line; missing or
    malformed inputs end the program with a one-line message instead of a traceback, and the exit
    status is 1 when any item could not be converted. Progress is logged to stderr."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        stats = main(sys.argv[1:])
    except (FileNotFoundError, ValueError) as e:
        sys.exit(f"error: {e}")
    except KeyError as e:
        sys.exit(f"error: missing field {e}")
    unfinished = {split: s.failed for split, s in stats.items() if s.failed}
    if unfinished:
        count = sum(len(failed) for failed in unfinished.values())
        sys.exit(f"error: {count} input(s) could not be converted (named above); not published: split(s) "
                 f"{', '.join(unfinished)}. Replace those files (re-download them) and rerun to finish.")


def read_json(path: str, what: str) -> dict:
    """A json file (``what`` names it), or a one-line error saying it is missing or corrupt."""
    try:
        with open(require(path, what)) as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{what} {path} is not valid JSON ({e}); re-download it. {README_HINT}") from e


def read_coco_instances(path: str, what: str) -> COCO:
    """A COCO instances json as a pycocotools ``COCO``, checked first: its ``images``, ``annotations``
    and ``categories`` fields are there, and every annotation's ``category_id`` is a category."""
    data = read_json(path, what)
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data, dict) or k not in data]
    if missing:
        raise ValueError(f"{what} {path} has no {', '.join(repr(k) for k in missing)} field: is it a COCO "
                         f"instances file? {README_HINT}")
    known = {c["id"] for c in data["categories"]}
    unknown = [a for a in data["annotations"] if a.get("category_id") not in known]
    if unknown:
        a = unknown[0]
        raise ValueError(f"{what} {path}: {len(unknown)} annotation(s) have a category_id that is not in its "
                         f"'categories', e.g. {a.get('category_id')!r} (annotation {a.get('id')}, image "
                         f"{a.get('image_id')}); re-download it. {README_HINT}")
    coco = COCO()
    coco.dataset = data
    coco.createIndex()
    return coco


def require(path: str, what: str) -> str:
    """Return ``path``, or raise a FileNotFoundError that names ``what`` is missing."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} not found: {path}\n{README_HINT}")
    return path


def read_id_list(path: str, what: str) -> List[str]:
    """Read an image-id list (one id per line, blank lines ignored), e.g. ``val.txt``."""
    with open(require(path, what)) as f:
        return [line.strip() for line in f if line.strip()]


def require_all(paths: Sequence[str], what: str) -> None:
    """Raise a FileNotFoundError naming the first few of ``paths`` that are missing."""
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        shown = "\n  ".join(missing[:5])
        raise FileNotFoundError(
            f"{len(missing)} of {len(paths)} {what} are missing, e.g.:\n  {shown}\n{README_HINT}"
        )


def save_label_png(label: np.ndarray, path: str) -> None:
    """Atomically write a [H, W] label map as a uint8 mode-"L" PNG."""
    if label.ndim != 2 or label.min() < 0 or label.max() > 255:
        raise ValueError(f"label map for {path} must be 2-D with values in 0..255")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp_path = path + ".tmp"
    Image.fromarray(label.astype(np.uint8)).save(tmp_path, format="PNG")
    os.replace(tmp_path, path)


def convert_all(
    items: Iterable[Item],
    outputs_of: Callable[[Item], Sequence[str]],
    convert: Callable[[Item], Sequence[np.ndarray]],
    desc: str,
) -> ConvertStats:
    """Resumable loop: for each item, write ``convert(item)`` (one label map per path of
    ``outputs_of(item)``) unless every output already exists. An item whose ``convert`` raises (an
    unreadable input) is skipped, counted and named; the output folders are published (a manifest
    each) only when no item failed."""
    items = list(items)
    outputs = {item: outputs_of(item) for item in items}
    folders = sorted({os.path.dirname(p) for paths in outputs.values() for p in paths})
    for folder in folders:
        remove_manifest(folder)
    written = skipped = 0
    failed: List[str] = []
    for item in tqdm(items, desc=desc, unit="img"):
        paths = outputs[item]
        if all(os.path.exists(p) for p in paths):
            skipped += 1
            continue
        try:
            labels = convert(item)
        except Exception as e:  # noqa: BLE001  (any unreadable input: named, counted, and the rest go on)
            failed.append(f"{item}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300])
            continue
        assert len(labels) == len(paths), (len(labels), len(paths))
        for label, path in zip(labels, paths):
            save_label_png(label, path)
        written += 1
    for line in failed[:20]:
        logger.warning("%s: could not convert %s", desc, line)
    if len(failed) > 20:
        logger.warning("%s: ... and %d more", desc, len(failed) - 20)
    if not failed:
        for folder in folders:
            os.makedirs(folder, exist_ok=True)
            write_manifest(folder, len(items), desc)
    state = f"{len(failed)} could not be converted: not published" if failed else "published"
    logger.info("%s: wrote %d, skipped %d already converted; %s", desc, written, skipped, state)
    return ConvertStats(written, skipped, tuple(failed))
