"""End to end through tools/run_demo.py (what `make demo` runs), on a tiny world and a tiny model."""
import json
import os
import subprocess
import sys

import pytest

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
