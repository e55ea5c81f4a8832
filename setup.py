"""pseg_d2: P-Seg (pseudo-mask and language) open-vocabulary segmentation on Detectron2.

detectron2 is not a PyPI requirement: its authors do not publish it there. Install it from
source, or run ``scripts/install_env.sh`` (see docs/install.md), before or after this package.
"""
import os
import re

from setuptools import find_packages, setup

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pseg_d2", "__init__.py")) as f:
    VERSION = re.search(r'^__version__ = "([^"]+)"', f.read(), re.MULTILINE).group(1)

setup(
    name="pseg_d2",
    version=VERSION,
    description="P-Seg: open-vocabulary semantic segmentation from image-text pairs, on Detectron2",
    packages=find_packages(include=["pseg_d2", "pseg_d2.*"]),
    python_requires=">=3.9",
    install_requires=[
        "torch>=2.1",
        "torchvision",
        "timm>=1.0",
        "open_clip_torch>=2.24",
        "webdataset>=0.2.86",
        "braceexpand",
        "scipy",
        "scikit-learn",
        "pycocotools",
        "opencv-python-headless<4.12",
        "fvcore",
        "numpy<2",
        "Pillow",
        "tqdm",
        "matplotlib",
        "tabulate",
    ],
    extras_require={
        "captions": ["nltk"],  # INPUT.CAPTION_MODE nouns_verbs
        "export": ["onnx", "onnxruntime"],  # tools/export_model.py, demo/demo.py --onnx
        "test": ["pytest", "selenium>=4.10", "gradio>=6", "moto[server]", "awscli", "onnx", "onnxruntime"],
        "web": ["gradio>=6"],
    },
)
