"""Pictures: label maps coloured by class, image | ground truth | prediction grids with a legend,
overlays with a legend strip under them, and the image files that --input arguments name."""
import glob
import os
from typing import List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from detectron2.data.catalog import Metadata  # noqa: E402
from detectron2.utils.colormap import colormap  # noqa: E402
from detectron2.utils.visualizer import Visualizer  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

IGNORE_COLOR = (255, 255, 255)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
LEGEND_SWATCH, LEGEND_PAD = 12, 4
# Longer class names are cut (ending in "...") in legends, so that a legend stays as wide as its image.
LEGEND_MAX_CHARS = 40


def list_images(inputs: Sequence[str]) -> List[str]:
    """Files, glob patterns and folders (their images, sorted) -> image paths, in order, without repeats."""
    paths = []
    for item in inputs:
        item = os.path.expanduser(item)
        if os.path.isdir(item):
            found = sorted(os.path.join(item, f) for f in os.listdir(item) if f.lower().endswith(IMAGE_EXTENSIONS))
        else:
            found = sorted(glob.glob(item))
        if not found:
            raise FileNotFoundError(f"No image found for input {item!r}")
        paths += found
    return list(dict.fromkeys(paths))


def palette(n: int) -> List[Tuple[int, int, int]]:
    """A fixed list of ``n`` RGB colours (Detectron2's colormap, repeated past its 74 colours)."""
    colors = colormap(rgb=True, maximum=255).astype(int)
    return [tuple(int(v) for v in colors[i % len(colors)]) for i in range(n)]


def legend_strip(class_names: Sequence[str], colors: Sequence[Sequence[int]], width: int) -> np.ndarray:
    """A white strip [h, max(width, widest entry), 3] uint8 RGB listing each class as a colour swatch
    and its name (cut to ``LEGEND_MAX_CHARS``), entries flowing left to right in rows."""
    font = ImageFont.load_default()
    class_names = [name if len(name) <= LEGEND_MAX_CHARS else name[: LEGEND_MAX_CHARS - 3] + "..."
                   for name in class_names]
    entries = [(name, 2 * LEGEND_PAD + LEGEND_SWATCH + int(np.ceil(font.getlength(name)))) for name in class_names]
    width = max([width] + [entry_width for _, entry_width in entries])
    row_height = LEGEND_SWATCH + LEGEND_PAD
    positions, x, y = [], 0, LEGEND_PAD
    for _, entry_width in entries:
        if x and x + entry_width > width:
            x, y = 0, y + row_height
        positions.append((x, y))
        x += entry_width
    strip = Image.new("RGB", (width, y + row_height), "white")
    draw = ImageDraw.Draw(strip)
    for (name, _), (x, y), color in zip(entries, positions, colors):
        draw.rectangle([x + LEGEND_PAD, y, x + LEGEND_PAD + LEGEND_SWATCH - 1, y + LEGEND_SWATCH - 1],
                       fill=tuple(int(v) for v in color), outline=(0, 0, 0))
        draw.text((x + 2 * LEGEND_PAD + LEGEND_SWATCH, y + LEGEND_SWATCH // 2), name, fill=(0, 0, 0), font=font,
                  anchor="lm")
    return np.asarray(strip)


def append_legend(image: np.ndarray, class_names: Sequence[str], colors: Sequence[Sequence[int]]) -> np.ndarray:
    """[H, W, 3] uint8 -> the image above its :func:`legend_strip`, padded white on the right if the
    strip is wider: [H + h, max(W, strip width), 3]."""
    strip = legend_strip(class_names, colors, image.shape[1])
    padded = np.full((image.shape[0], strip.shape[1], 3), 255, dtype=np.uint8)
    padded[:, : image.shape[1]] = image
    return np.concatenate([padded, strip])


def overlay_with_legend(
    image: np.ndarray, labels: np.ndarray, class_names: Sequence[str], colors: Sequence[Sequence[int]], scale: float = 1.0
) -> np.ndarray:
    """RGB image [H, W, 3] uint8 and class ids [H, W] -> Detectron2's semantic overlay, ``scale`` times the
    image's size, above its :func:`legend_strip`: [h, w, 3] uint8 RGB."""
    metadata = Metadata(stuff_classes=list(class_names), stuff_colors=[tuple(color) for color in colors])
    overlay = Visualizer(image, metadata, scale=scale).draw_sem_seg(labels).get_image()
    return append_legend(overlay, class_names, colors)


def colorize(labels: np.ndarray, colors: Sequence[Sequence[int]], ignore_label: int = 255) -> np.ndarray:
    """[H, W] class ids -> [H, W, 3] uint8 RGB; ``ignore_label`` pixels white."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: len(colors)] = np.asarray(colors, dtype=np.uint8)
    palette[ignore_label] = IGNORE_COLOR
    return palette[labels.astype(np.int64).clip(0, 255)]


def save_label_grid(
    path: str,
    images: List[np.ndarray],
    label_columns: List[List[np.ndarray]],
    column_titles: Sequence[str],
    class_names: Sequence[str],
    colors: Sequence[Sequence[int]],
    title: Optional[str] = None,
) -> None:
    """One row per image: the RGB image, then one coloured label map per column, and a class legend.

    Args:
        images: R images [H, W, 3] uint8 RGB.
        label_columns: per extra column, R label maps [H, W].
        column_titles: 1 + len(label_columns) titles.
    """
    rows, cols = len(images), 1 + len(label_columns)
    fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols + 1.8, 1.8 * rows + 0.4), squeeze=False)
    for r in range(rows):
        panels = [images[r]] + [colorize(column[r], colors) for column in label_columns]
        for c, panel in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(panel, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(column_titles[c], fontsize=9)
    handles = [Patch(color=np.asarray(color) / 255.0, label=name) for name, color in zip(class_names, colors)]
    fig.legend(handles=handles, loc="center right", fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, cols / (cols + 1.0), 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
