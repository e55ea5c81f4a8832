"""Write the synthetic world to disk.

Layout under ``root``::

    world.json                               the WorldSpec (+ class tables) and split sizes
    train/shard-000000.tar ...               webdataset shards, img2dataset style: members
                                             {key}.png, {key}.txt (caption), {key}.json
                                             ({"caption", "objects": [{"color", "shape"}]}),
                                             key = 9-digit global index
    train/DONE                               completion marker (json: spec, counts, shards)
    {train,val,heldout}/ORIGIN               what the split's files were generated from (json)
    {val,heldout}/images/000000.png          RGB image
    {val,heldout}/shapes/000000.png          uint8 label map (mode "L"): 0 background,
    {val,heldout}/colors/000000.png          1..S shape ids / 1..C colour ids (table order)
    {val,heldout}/objects.json               per image: caption and objects
    {val,heldout}/DONE
    train_images/...                         optional (write_train_images): the first N training
                                             samples laid out as val, for pseudo-labelling

Every file is written under a temporary name and moved into place with ``os.replace``, so
an interrupted run leaves no half-written file. A split whose DONE marker matches the
request is skipped; otherwise only its missing (or incomplete) files are generated, which
gives the same bytes as an uninterrupted run because every sample is a pure function of
(spec, split, index). Files of a split whose ORIGIN differs (another spec, or a version of this
code that recorded none) are deleted before it is generated again.
"""
from __future__ import annotations

import glob
import io
import json
import os
import tarfile
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Dict, List, Optional

import numpy as np
import webdataset as wds
from PIL import Image
from tqdm import tqdm

from .spec import WorldSpec
from .world import generate_sample

EVAL_CHUNK = 200
TRAIN_IMAGES = "train_images"


def png_bytes(array: np.ndarray) -> bytes:
    """[H, W, 3] or [H, W] uint8 -> PNG bytes (RGB or "L")."""
    buf = io.BytesIO()
    # level 1: ~2x faster than the default; noisy images barely compress anyway
    Image.fromarray(array).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _atomic_write(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _write_json(path: str, obj) -> None:
    _atomic_write(path, (json.dumps(obj, indent=1) + "\n").encode("utf-8"))


def _read_json(path: str) -> Optional[dict]:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _shard_complete(path: str, num_samples: int) -> bool:
    """Whether an existing shard holds exactly ``num_samples`` samples (3 members each)."""
    if not os.path.exists(path):
        return False
    with tarfile.open(path) as tar:
        return len(tar.getnames()) == 3 * num_samples


def write_shard(path: str, spec: WorldSpec, start: int, stop: int) -> None:
    """Training samples [start, stop) as one webdataset shard at ``path``."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as stream:
        writer = wds.TarWriter(stream, encoder=False, mtime=0)  # mtime: reproducible bytes
        for index in range(start, stop):
            sample = generate_sample(spec, "train", index)
            writer.write({
                "__key__": f"{index:09d}",
                "png": png_bytes(sample.image),
                "txt": sample.caption.encode("utf-8"),
                "json": json.dumps(sample.meta()).encode("utf-8"),
            })
        writer.close()
    os.replace(tmp, path)


def write_eval_chunk(split_dir: str, spec: WorldSpec, split: str, start: int, stop: int
                     ) -> List[dict]:
    """Evaluation samples [start, stop): image and both label maps (files already present
    are kept). Returns one record per image: image_id, caption, objects."""
    records = []
    for index in range(start, stop):
        sample = generate_sample(spec, split, index)
        name = f"{index:06d}.png"
        for sub, array in (("images", sample.image), ("shapes", sample.shape_label),
                           ("colors", sample.color_label)):
            path = os.path.join(split_dir, sub, name)
            if not os.path.exists(path):
                _atomic_write(path, png_bytes(array))
        records.append({"image_id": index, **sample.meta()})
    return records


def _run(tasks: List[tuple], fn: Callable, workers: int, bar: tqdm) -> List:
    """Run ``fn(*task)`` for each task, in processes when workers > 1; results in order."""
    sizes = [task[-1] - task[-2] for task in tasks]  # every task ends with (start, stop)
    if workers <= 1:
        results = []
        for task, n in zip(tasks, sizes):
            results.append(fn(*task))
            bar.update(n)
        return results
    with ProcessPoolExecutor(workers) as pool:
        futures = [pool.submit(fn, *task) for task in tasks]
        for future, n in zip(futures, sizes):
            future.result()
            bar.update(n)
        return [f.result() for f in futures]


GENERATED = ("DONE", "objects.json", "shard-*.tar", "images/*.png", "shapes/*.png", "colors/*.png", "**/*.tmp")


def _prepare_split(split_dir: str, origin: dict) -> None:
    """Make ``split_dir`` ready for (resumed) generation from ``origin`` (spec, shard size).

    Resuming keeps every finished file, so the files of a split generated from another origin (or
    by a version that recorded none) are deleted first: only the files this module writes.
    """
    origin_path = os.path.join(split_dir, "ORIGIN")
    stale = _read_json(origin_path) != origin
    for pattern in GENERATED if stale else ("**/*.tmp",):
        for path in glob.glob(os.path.join(split_dir, pattern), recursive=True):
            os.remove(path)
    os.makedirs(split_dir, exist_ok=True)
    _write_json(origin_path, origin)


def _write_train(split_dir: str, spec: WorldSpec, count: int, shard_size: int,
                 workers: int, bar: tqdm) -> List[str]:
    shards, tasks = [], []
    for shard, start in enumerate(range(0, count, shard_size)):
        stop = min(start + shard_size, count)
        name = f"shard-{shard:06d}.tar"
        shards.append(name)
        path = os.path.join(split_dir, name)
        if _shard_complete(path, stop - start):
            bar.update(stop - start)
        else:
            tasks.append((path, spec, start, stop))
    _run(tasks, write_shard, workers, bar)
    return shards


def _write_eval(split_dir: str, spec: WorldSpec, split: str, count: int, workers: int,
                bar: tqdm) -> None:
    for sub in ("images", "shapes", "colors"):
        os.makedirs(os.path.join(split_dir, sub), exist_ok=True)
    tasks = [(split_dir, spec, split, start, min(start + EVAL_CHUNK, count))
             for start in range(0, count, EVAL_CHUNK)]
    records = [r for chunk in _run(tasks, write_eval_chunk, workers, bar) for r in chunk]
    _write_json(os.path.join(split_dir, "objects.json"), records)


def write_world(root: str, spec: WorldSpec = WorldSpec(), num_train: int = 30000,
                num_val: int = 500, num_heldout: int = 300, shard_size: int = 1000,
                workers: Optional[int] = None, progress: bool = True) -> Dict[str, dict]:
    """Generate (or finish generating) the world under ``root`` with ``workers`` processes
    (default: up to 4, one per CPU; the output does not depend on it).

    Raises ValueError when ``root`` already holds a world generated from another spec.
    Returns each split's completion record (the content of its DONE file).
    """
    workers = workers or min(4, os.cpu_count() or 1)
    os.makedirs(root, exist_ok=True)
    world_path = os.path.join(root, "world.json")
    existing = _read_json(world_path)
    if existing is not None and WorldSpec.from_dict(existing["spec"]) != spec:  # tolerates newer defaults
        raise ValueError(f"{root} holds a world generated from a different spec "
                         f"({world_path}); choose another root or delete it")
    counts = {"train": num_train, "val": num_val, "heldout": num_heldout}
    _write_json(world_path, {"spec": spec.to_dict(), "splits": counts, "shard_size": shard_size})

    records = {}
    for split, count in counts.items():
        split_dir = os.path.join(root, split)
        done_path = os.path.join(split_dir, "DONE")
        record = {"split": split, "count": count, "spec": spec.to_dict()}
        if split == "train":
            record["shard_size"] = shard_size
        done = _read_json(done_path)
        if done is not None and {k: done.get(k) for k in record} == record:
            records[split] = done
            continue
        _prepare_split(split_dir, {k: v for k, v in record.items() if k != "count"})
        with tqdm(total=count, desc=f"synthetic {split}", unit="img", disable=not progress) as bar:
            if split == "train":
                record["shards"] = _write_train(split_dir, spec, count, shard_size, workers, bar)
            else:
                _write_eval(split_dir, spec, split, count, workers, bar)
        _write_json(done_path, record)
        records[split] = record
    return records


def write_train_images(root: str, count: int, workers: Optional[int] = None, progress: bool = True) -> dict:
    """The first ``count`` training samples of the world under ``root`` (the shards' pictures) as
    ``root/train_images/{images,shapes,colors}/*.png``, laid out as val: unlabelled images for
    pseudo-labelling, with ground truth to score the pseudo labels. Resumable; returns the DONE record."""
    spec = load_spec(root)
    split_dir = os.path.join(root, TRAIN_IMAGES)
    done_path = os.path.join(split_dir, "DONE")
    record = {"split": "train", "count": count, "spec": spec.to_dict()}
    done = _read_json(done_path)
    if done == record:
        return done
    _prepare_split(split_dir, {k: v for k, v in record.items() if k != "count"})
    with tqdm(total=count, desc=f"synthetic {TRAIN_IMAGES}", unit="img", disable=not progress) as bar:
        _write_eval(split_dir, spec, "train", count, workers or min(4, os.cpu_count() or 1), bar)
    _write_json(done_path, record)
    return record


def load_spec(root: str) -> WorldSpec:
    """The WorldSpec a world under ``root`` was generated from."""
    world = _read_json(os.path.join(root, "world.json"))
    if world is None:
        raise FileNotFoundError(f"no synthetic world at {root} (missing world.json)")
    return WorldSpec.from_dict(world["spec"])


def train_shards(root: str) -> List[str]:
    """Paths of the finished training shards under ``root``, in order."""
    done = _read_json(os.path.join(root, "train", "DONE"))
    if done is None:
        raise FileNotFoundError(f"no finished training split under {root} (missing train/DONE)")
    return [os.path.join(root, "train", name) for name in done["shards"]]

