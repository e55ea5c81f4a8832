"""Published mIoU (%) of the paper, GroupViT and TCL, with where each figure is printed.

Each figure names the protocols it is comparable with (see ``protocol_names.py``):

* ``default`` and ``groupvit``: background included, GroupViT's datasets (VOC21, Context60,
  COCO-Object). The paper's Table 4 and GroupViT's README.
* ``default`` only: background pixels ignored, MaskCLIP's metric (the paper's Table 3: VOC's 20,
  Context's 59 and COCO-Object's 80 classes; ``coco_object_nobg`` has no eval config yet).
* ``tcl``: TCL's eight benchmarks, TCL's inference (PAMR, 448/224 windows, threshold 0.4).

``checked`` is False for figures recalled from a source that could not be opened to confirm them;
print them marked until someone confirms them against the source.
"""
from typing import List, NamedTuple, Tuple


class Published(NamedTuple):
    method: str
    benchmark: str
    miou: float
    source: str
    protocols: Tuple[str, ...]
    checked: bool = True


PSEG_PAPER = "P-Seg paper"
GROUPVIT_README = "GroupViT README, Benchmark Results (NVlabs/GroupViT)"
TCL_PAPER = "TCL paper (Cha et al., CVPR 2023), Table 2 (also listed on Papers with Code)"
TCL_PAPER_UNCONFIRMED = "TCL paper (Cha et al., CVPR 2023), Table 2; not confirmed against the paper here"


def _rows(method, benchmarks, values, source, protocols, checked=True) -> List[Published]:
    return [Published(method, b, v, source, protocols, checked) for b, v in zip(benchmarks, values)]


WITH_BACKGROUND = ("voc", "context60", "coco_object")
WITHOUT_BACKGROUND = ("voc20", "context59", "coco_object_nobg")
TCL_BENCHMARKS = ("voc", "context60", "coco_object", "voc20", "context59", "coco_stuff", "cityscapes", "ade20k")

PUBLISHED: List[Published] = [
    *_rows("P-Seg", WITH_BACKGROUND, (53.2, 27.9, 30.3), f"{PSEG_PAPER}, Table 4", ("default", "groupvit")),
    *_rows("P-Seg+", WITH_BACKGROUND, (62.0, 30.2, 35.7), f"{PSEG_PAPER}, Table 4", ("default", "groupvit")),
    *_rows("GroupViT (GCC+YFCC)", WITH_BACKGROUND, (52.3, 22.4, 24.3), f"{GROUPVIT_README}; {PSEG_PAPER}, Table 4",
           ("default", "groupvit")),
    *_rows("GroupViT (GCC+RedCaps)", WITH_BACKGROUND, (50.8, 23.7, 27.5),
           f"{GROUPVIT_README}; {PSEG_PAPER}, Table 4", ("default", "groupvit")),
    *_rows("P-Seg", WITHOUT_BACKGROUND, (81.8, 27.2, 42.4), f"{PSEG_PAPER}, Table 3", ("default",)),
    *_rows("P-Seg+", WITHOUT_BACKGROUND, (84.7, 31.6, 53.0), f"{PSEG_PAPER}, Table 3", ("default",)),
    *_rows("GroupViT", WITHOUT_BACKGROUND, (77.2, 23.0, 37.5), f"{PSEG_PAPER}, Table 3 (its evaluation of GroupViT)",
           ("default",)),
    *_rows("TCL", TCL_BENCHMARKS[:1], (55.0,), TCL_PAPER, ("tcl",)),
    Published("TCL", "context60", 30.4, TCL_PAPER_UNCONFIRMED, ("tcl",), checked=False),
    *_rows("TCL", TCL_BENCHMARKS[2:], (31.6, 83.2, 33.9, 22.4, 24.0, 17.1), TCL_PAPER, ("tcl",)),
    *_rows("GroupViT (TCL's evaluation)", TCL_BENCHMARKS, (50.4, 18.7, 27.5, 79.7, 23.4, 15.3, 11.1, 9.2),
           TCL_PAPER_UNCONFIRMED, ("tcl",), checked=False),
]


def published_results(protocol: str) -> List[Published]:
    """The published figures comparable with ``protocol``, in the order above."""
    rows = [row for row in PUBLISHED if protocol in row.protocols]
    if not rows:
        raise KeyError(f"no published figures for protocol {protocol!r}; known: default, groupvit, tcl")
    return rows
