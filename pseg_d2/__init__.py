"""P-Seg on Detectron2."""
