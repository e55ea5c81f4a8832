"""Printable tables of SemSegEvaluator results: mIoU (pixel accuracy) per dataset."""
from typing import Dict, Mapping, Sequence

from tabulate import tabulate


def short_name(dataset: str) -> str:
    """A column title: the dataset name without its ``synthetic_`` prefix."""
    return dataset.replace("synthetic_", "")


def score(result: Mapping[str, float]) -> str:
    """SemSegEvaluator's ``sem_seg`` dict -> ``"mIoU (pixel acc.)"`` with one decimal."""
    return f"{result['mIoU']:.1f} ({result['pACC']:.1f})"


def miou_table(metrics: Mapping[str, Mapping[str, dict]], datasets: Sequence[str]) -> str:
    """``{row name: {dataset: sem_seg results}}`` -> a GitHub-style table, one column per dataset."""
    rows = [[name] + [score(per_set[d]) for d in datasets] for name, per_set in metrics.items()]
    return tabulate(rows, headers=["mIoU (pixel acc.)"] + [short_name(d) for d in datasets], tablefmt="github")


def brief(results: Mapping[str, dict]) -> Dict[str, Dict[str, float]]:
    """``{dataset: sem_seg results}`` with only mIoU and pixel accuracy kept (for a metrics.json)."""
    return {d: {"mIoU": r["mIoU"], "pACC": r["pACC"]} for d, r in results.items()}
