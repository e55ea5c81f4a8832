"""Helpers shared by the ``datasets/prepare_*.py`` converters.

Every converter maps official annotations to uint8 label PNGs (mode "L"). Writes are atomic
(a ``<name>.png.tmp`` file, then ``os.replace``), so an interrupted run never leaves a
half-written PNG; a rerun skips items whose outputs all exist and redoes the rest. The
temporary suffix is not ``.png``, so ``load_sem_seg`` never picks a leftover one up.
"""

import argparse
import logging
import os
import sys
from typing import Callable, Iterable, List, NamedTuple, Sequence, TypeVar

import numpy as np
from PIL import Image
from tqdm import tqdm

Item = TypeVar("Item")
logger = logging.getLogger(__name__)

README_HINT = "See datasets/README.md for where to download it and where to put it."


class ConvertStats(NamedTuple):
    """How many items a converter wrote and how many it skipped (outputs already present)."""

    written: int
    skipped: int


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


def run_cli(main: Callable[[Sequence[str]], object]) -> None:
    """Run a converter's ``main`` on the command line; missing or malformed inputs end the
    program with a one-line message instead of a traceback. Progress is logged to stderr."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        main(sys.argv[1:])
    except (FileNotFoundError, ValueError, KeyError) as e:
        sys.exit(f"error: {e}")


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
    ``outputs_of(item)``) unless every output already exists."""
    items = list(items)
    written = skipped = 0
    for item in tqdm(items, desc=desc, unit="img"):
        paths = outputs_of(item)
        if all(os.path.exists(p) for p in paths):
            skipped += 1
            continue
        labels = convert(item)
        assert len(labels) == len(paths), (len(labels), len(paths))
        for label, path in zip(labels, paths):
            save_label_png(label, path)
        written += 1
    logger.info("%s: wrote %d, skipped %d already converted", desc, written, skipped)
    return ConvertStats(written, skipped)
