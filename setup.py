"""pseg_d2: P-Seg (pseudo-mask and language) open-vocabulary segmentation on Detectron2.

detectron2 is not a PyPI requirement: its authors do not publish it there. Install it from
source, or run ``scripts/install_env.sh`` (see README.md), before or after this package.
"""
from setuptools import find_packages, setup

setup(
    name="pseg_d2",
    version="0.1.0",
    description="P-Seg: open-vocabulary semantic segmentation from image-text pairs, on Detectron2",
    packages=find_packages(include=["pseg_d2", "pseg_d2.*"]),
    python_requires=">=3.9",
    install_requires=[
        "torch>=2.1",
        "torchvision",
        "timm>=1.0",
        "open_clip_torch>=2.24",
        "webdataset>=0.2.86",
        "scipy",
        "scikit-learn",
        "pycocotools",
        "opencv-python-headless<4.12",
        "fvcore",
        "numpy<2",
        "Pillow",
        "tqdm",
    ],
    extras_require={"test": ["pytest", "selenium>=4.10", "gradio>=6", "moto[server]", "awscli"], "web": ["gradio>=6"]},
)
