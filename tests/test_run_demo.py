"""End to end through tools/run_demo.py (what `make demo` runs), on a tiny world and a tiny model."""
import json
import os
import subprocess
import sys

import pytest

from pseg_d2.evaluation import brief, miou_table

ROWS = ("untrained P-Seg", "all background", "pseudo-mask oracle", "trained P-Seg")
SETS = ("synthetic_colors_val", "synthetic_shapes_val", "synthetic_heldout_val", "synthetic_heldout_shapes_val")


@pytest.mark.slow
def test_run_demo_writes_metrics_pictures_and_model(tmp_path):
    out, root = tmp_path / "demo", tmp_path / "synthetic"
    cmd = [
        sys.executable, "tools/run_demo.py", "--config-file", "configs/tiny/pseg_r18_tiny.yaml", "--root", str(root),
        "--output", str(out), "--num-train", "96", "--num-val", "8", "--num-heldout", "4", "--num-pictures", "2",
        "SOLVER.MAX_ITER", "3", "SOLVER.IMS_PER_BATCH", "8", "DATALOADER.NUM_WORKERS", "0",
    ]
    proc = subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    summary = json.loads((out / "metrics.json").read_text())
    assert set(summary["metrics"]) == set(ROWS)
    for row in ROWS:
        assert set(summary["metrics"][row]) == set(SETS)
        assert all(0 <= r["mIoU"] <= 100 and 0 <= r["pACC"] <= 100 for r in summary["metrics"][row].values())
    background, oracle = summary["metrics"]["all background"], summary["metrics"]["pseudo-mask oracle"]
    # Each pseudo-mask takes its majority class, so the oracle labels at least as many pixels right.
    assert all(oracle[d]["pACC"] >= background[d]["pACC"] for d in SETS)
    assert summary["train_iterations"] == 3 and summary["wall_seconds"] > summary["train_seconds"] > 0
    assert (out / "model_final.pth").exists()
    assert len(summary["pictures"]) == 3 and all(os.path.getsize(p) > 0 for p in summary["pictures"])
    assert "trained P-Seg" in proc.stdout and "min in all" in proc.stdout


def test_miou_table_has_a_row_per_model_and_a_column_per_set():
    metrics = {"P-Seg": {"synthetic_colors_val": {"mIoU": 90.64, "pACC": 95.0}, "synthetic_heldout_val": {"mIoU": 84.06, "pACC": 93.54}},
               "P-Seg+": {"synthetic_colors_val": {"mIoU": 88.0, "pACC": 94.04}, "synthetic_heldout_val": {"mIoU": 80.0, "pACC": 90.0}}}
    lines = miou_table(metrics, ["synthetic_heldout_val", "synthetic_colors_val"]).splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert cells[0] == ["mIoU (pixel acc.)", "heldout_val", "colors_val"]
    assert cells[2] == ["P-Seg", "84.1 (93.5)", "90.6 (95.0)"] and cells[3] == ["P-Seg+", "80.0 (90.0)", "88.0 (94.0)"]
    assert brief({"a": {"mIoU": 1.0, "pACC": 2.0, "fwIoU": 3.0}}) == {"a": {"mIoU": 1.0, "pACC": 2.0}}
