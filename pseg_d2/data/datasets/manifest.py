"""Completion records of converted label folders.

A ``datasets/prepare_*.py`` converter removes a split's record when it starts and writes it only once
every label of the split is written, so the catalog (:func:`check_converted`) never reads a partial
conversion; rerunning the converter finishes it.
"""
import json
import os

MANIFEST = "conversion.json"


def write_manifest(folder: str, count: int, converter: str) -> None:
    """Record that ``folder`` holds all ``count`` label PNGs of its split (written atomically)."""
    tmp = os.path.join(folder, MANIFEST + ".tmp")
    with open(tmp, "w") as f:
        json.dump({"count": count, "converter": converter}, f)
    os.replace(tmp, os.path.join(folder, MANIFEST))


def remove_manifest(folder: str) -> None:
    """Unpublish ``folder`` while it is being converted."""
    path = os.path.join(folder, MANIFEST)
    if os.path.exists(path):
        os.remove(path)


def check_converted(folder: str, dataset_name: str, prepare_script: str) -> None:
    """Raise a one-line error unless ``folder`` holds a finished conversion: its record, and as many
    label PNGs as the record counts."""
    path = os.path.join(folder, MANIFEST)
    if not os.path.isfile(path):
        state = "is missing" if not os.path.isdir(folder) else f"holds no finished conversion (no {MANIFEST})"
        raise FileNotFoundError(f"{dataset_name}: its label folder {folder} {state}; run {prepare_script} "
                                "(rerunning it finishes an interrupted conversion).")
    with open(path) as f:
        count = json.load(f)["count"]
    found = sum(name.endswith(".png") for name in os.listdir(folder))
    if found != count:
        raise ValueError(f"{dataset_name}: {folder} holds {found} label PNGs, but its conversion wrote {count}; "
                         f"rerun {prepare_script}.")
