#!/usr/bin/env bash
# Multi-node P-Seg training under SLURM: one task per node, each starting one process per GPU with
# Detectron2's launch (tools/train_net.py --num-gpus). Submit from the repository root:
#
#   sbatch --nodes 2 tools/slurm_train.sh --config-file configs/pseg_swin_s.yaml OUTPUT_DIR output/pseg_swin_s
#   sbatch --nodes 2 tools/slurm_train.sh --config-file configs/pseg_swin_s.yaml --resume OUTPUT_DIR output/pseg_swin_s
#
# Arguments are passed to tools/train_net.py (config overrides last). Set PYTHON to choose the
# interpreter (default: .venv/bin/python if present, else python), PORT for the rendezvous port.
#SBATCH --job-name=pseg
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --output=slurm-%x-%j.out
set -euo pipefail

GPUS_PER_NODE=${SLURM_GPUS_ON_NODE:-8}
PORT=${PORT:-29500}
MASTER=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi

# $SLURM_NODEID is evaluated inside each task, so every node gets its own machine rank.
srun --kill-on-bad-exit=1 bash -c "exec $PYTHON tools/train_net.py \
  --num-gpus $GPUS_PER_NODE --num-machines $SLURM_JOB_NUM_NODES --machine-rank \$SLURM_NODEID \
  --dist-url tcp://$MASTER:$PORT $(printf '%q ' "$@")"
