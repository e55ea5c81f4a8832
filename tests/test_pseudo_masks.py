import numpy as np
import pytest
import torch

from pseg_d2.modeling import ColorKMeansGenerator, DINOKMeansGenerator, batched_kmeans
from pseg_d2.modeling.pseudo_mask.components import connected_regions, split_into_regions
from conftest import tiny_cfg


def _same_partition(a, b):
    """Two labelings are the same partition when the label pairs form a bijection."""
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_kmeans_recovers_planted_clusters_on_a_batch():
    g = torch.Generator().manual_seed(0)
    batch, k, per = 4, 5, 40
    centers = torch.randn(batch, k, 8, generator=g) * 10
    truth = torch.arange(k).repeat_interleave(per)
    points = centers[:, truth] + 0.1 * torch.randn(batch, k * per, 8, generator=g)
    perm = torch.randperm(k * per, generator=g)
    labels = batched_kmeans(points[:, perm], k, generator=torch.Generator().manual_seed(1))
    assert labels.shape == (batch, k * per)
    for b in range(batch):
        assert _same_partition(labels[b], truth[perm])


def test_kmeans_is_deterministic_for_a_seed():
    points = torch.randn(3, 100, 4)
    a = batched_kmeans(points, 6, generator=torch.Generator().manual_seed(7))
    b = batched_kmeans(points, 6, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_kmeans_handles_fewer_distinct_points_than_clusters():
    points = torch.zeros(2, 50, 3)
    points[:, 25:] = 1.0
    labels = batched_kmeans(points, 4, generator=torch.Generator().manual_seed(0))
    assert ((labels[:, :25, None] == labels[:, None, 25:]).sum() == 0).item()


def test_color_generator_segments_colour_regions():
    cfg = tiny_cfg("MODEL.PSEUDO_MASK.NUM_CLUSTERS", 3, "MODEL.PSEUDO_MASK.COLOR_STRIDE", 2)
    images = torch.zeros(2, 3, 32, 32)
    images[:, 0, :16] = 255  # red top half
    images[0, 2, 16:, :16] = 255  # image 0: blue bottom-left quarter
    images[1, 1, 16:, 16:] = 255  # image 1: green bottom-right quarter
    labels = ColorKMeansGenerator(cfg)(images)
    assert labels.shape == (2, 16, 16)
    for b in range(2):
        # Top half, bottom-left and bottom-right quarters: three colours, three clusters.
        regions = [labels[b, :8, :], labels[b, 8:, :8], labels[b, 8:, 8:]]
        assert all(r.unique().numel() == 1 for r in regions)
        assert len({int(r[0, 0]) for r in regions}) == 3


def test_generators_build_from_keywords_as_from_the_config():
    cfg = tiny_cfg("MODEL.PSEUDO_MASK.NUM_CLUSTERS", 3, "MODEL.PSEUDO_MASK.COLOR_STRIDE", 2)
    keywords = ColorKMeansGenerator.from_config(cfg)
    assert (keywords["num_clusters"], keywords["stride"]) == (3, 2)
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 255
    assert torch.equal(ColorKMeansGenerator(**keywords)(images), ColorKMeansGenerator(cfg)(images))
    assert ColorKMeansGenerator(cfg, stride=4)(images).shape == (2, 8, 8)  # a keyword wins over the config
    dino = DINOKMeansGenerator(_dino_cfg("dino.pth"), num_clusters=5)
    assert (dino.num_masks, dino.weights) == (5, "dino.pth")


def _dino_cfg(path):
    return tiny_cfg(
        "MODEL.PSEUDO_MASK.NAME", "DINOKMeansGenerator",
        "MODEL.PSEUDO_MASK.VIT_NAME", "vit_small_patch8_224.dino",
        "MODEL.PSEUDO_MASK.VIT_WEIGHTS", str(path),
    )


def test_dino_generator_loads_official_layout_and_clusters(tmp_path):
    import timm

    vit = timm.create_model("vit_small_patch8_224.dino", pretrained=False, num_classes=0)
    # The official DINO release is a plain state dict; the training checkpoint nests it under teacher/backbone.
    torch.save({"teacher": {f"backbone.{k}": v for k, v in vit.state_dict().items()}}, tmp_path / "dino.pth")
    gen = DINOKMeansGenerator(_dino_cfg(tmp_path / "dino.pth"))
    assert not any(p.requires_grad for p in gen.parameters())
    labels = gen(torch.rand(2, 3, 64, 80) * 255)
    assert torch.equal(gen.vit.pos_embed, vit.pos_embed)
    assert labels.shape == (2, 8, 10)
    assert labels.max() < 8


def test_dino_position_table_is_resized_as_the_official_code_does(tmp_path):
    import math

    import timm
    from timm.layers import resample_abs_pos_embed

    from pseg_d2.modeling.pseudo_mask.generator import dino_pos_embed

    table = torch.randn(1, 1 + 28 * 28, 8)
    # The official interpolate_pos_encoding for a 448 x 448 image of 8-pixel patches (56 x 56).
    n = math.sqrt(28 * 28)
    grid = table[:, 1:].reshape(1, 28, 28, 8).permute(0, 3, 1, 2)
    official = torch.nn.functional.interpolate(grid, scale_factor=(56.1 / n, 56.1 / n), mode="bicubic")
    official = torch.cat([table[:, :1], official.permute(0, 2, 3, 1).reshape(1, -1, 8)], dim=1)
    assert torch.equal(dino_pos_embed(table, (56, 56)), official)
    assert not torch.allclose(resample_abs_pos_embed(table, (56, 56)), official, atol=1e-3)  # timm's: antialiased
    assert dino_pos_embed(table, (28, 28)) is table

    vit = timm.create_model("vit_small_patch8_224.dino", pretrained=False, num_classes=0, depth=2).eval()
    torch.save(vit.state_dict(), tmp_path / "dino.pth")
    gen = DINOKMeansGenerator(_dino_cfg(tmp_path / "dino.pth"))
    gen.vit = timm.create_model("vit_small_patch8_224.dino", pretrained=False, num_classes=0, depth=2,
                                dynamic_img_size=True)
    x = torch.randn(1, 3, 224, 224)
    gen.vit.load_state_dict(vit.state_dict())
    assert torch.equal(gen.forward_tokens(x), vit.forward_features(x))  # the native grid: timm's forward


def test_dino_generator_errors_name_the_config_key(tmp_path):
    images = torch.zeros(1, 3, 16, 16)
    with pytest.raises(FileNotFoundError, match="MODEL.PSEUDO_MASK.VIT_WEIGHTS"):
        DINOKMeansGenerator(_dino_cfg(tmp_path / "missing.pth"))(images)
    with pytest.raises(ValueError, match="MODEL.PSEUDO_MASK.VIT_WEIGHTS"):
        DINOKMeansGenerator(_dino_cfg(""))(images)


# ---------------------------------------------------------------- clusters split into connected regions
def test_connected_regions_are_8_connected_and_keyed_by_their_first_cell():
    labels = torch.tensor([[1, 1, 0, 0, 1],
                           [0, 0, 1, 0, 1],
                           [1, 0, 0, 0, 0]])
    ids = connected_regions(labels[None])[0]
    # label 1: {(0,0),(0,1),(1,2)} joined diagonally; {(0,4),(1,4)}; {(2,0)} alone. Label 0 is one region.
    assert ids.tolist() == [[0, 0, 2, 2, 4],
                            [2, 2, 0, 2, 4],
                            [10, 2, 2, 2, 2]]


def test_connected_regions_match_scipy_on_random_maps():
    from scipy import ndimage

    labels = torch.randint(0, 3, (4, 40, 40), generator=torch.Generator().manual_seed(0))
    ids = connected_regions(labels)
    for lab, found in zip(labels.numpy(), ids.numpy()):
        expected = np.zeros_like(found)
        for value in np.unique(lab):
            regions, count = ndimage.label(lab == value, structure=np.ones((3, 3)))
            for r in range(1, count + 1):
                cells = regions == r
                expected[cells] = np.flatnonzero(cells.ravel())[0]  # keyed by the region's first cell
        assert (found == expected).all()


def test_split_into_regions_orders_by_area_and_joins_small_regions_to_their_cluster():
    labels = torch.zeros(1, 6, 6, dtype=torch.long)
    labels[0, 0:3, 0:3] = 1  # 9 cells
    labels[0, 4:6, 4:6] = 1  # 4 cells, same cluster, apart
    labels[0, 0, 5] = 2      # 1 cell
    masks = split_into_regions(labels, max_masks=4, min_area=2)[0]
    background = (labels[0] == 0)
    assert (masks[background] == 0).all()  # the largest region (22 cells) first
    assert (masks[0:3, 0:3] == 1).all() and (masks[4:6, 4:6] == 2).all()
    assert masks[0, 5] == 3  # under min_area: the last mask
    small = split_into_regions(labels, max_masks=4, min_area=5)[0]  # the 4-cell region joins its cluster's largest
    assert (small[0:3, 0:3] == 1).all() and (small[4:6, 4:6] == 1).all() and small[0, 5] == 3
    capped = split_into_regions(labels, max_masks=2, min_area=1)[0]
    assert (capped[background] == 0).all() and (capped[~background] == 1).all()
    with pytest.raises(ValueError):
        split_into_regions(labels, max_masks=0, min_area=1)
    with pytest.raises(ValueError):
        split_into_regions(labels, max_masks=4, min_area=1, max_regions_per_cluster=-1)


def test_split_into_regions_keeps_textures_whole():
    labels = torch.zeros(1, 8, 8, dtype=torch.long)
    labels[0, 0:2, 0:2] = 1  # two objects of cluster 1 (4 cells each)
    labels[0, 0:2, 6:8] = 1
    labels[0, 4, 0:8:2] = 2  # a texture: cluster 2 falls into four single cells and a 2x2 block
    labels[0, 6:8, 6:8] = 2
    masks = split_into_regions(labels, max_masks=8, min_area=1, max_regions_per_cluster=2)[0]
    assert masks[0, 0] != masks[0, 7]  # two regions: split
    texture = labels[0] == 2
    assert len(masks[texture].unique()) == 1  # five regions: one mask, that of its largest region
    assert masks[texture][0] != masks[0, 0] and masks[texture][0] != masks[0, 7]
    assert len(split_into_regions(labels, max_masks=8, min_area=1)[0][texture].unique()) == 5  # no limit
    assert len(split_into_regions(labels, max_masks=8, min_area=1, max_regions_per_cluster=5)[0][texture].unique()) == 5


def test_color_generator_gives_separate_objects_of_one_colour_their_own_masks():
    image = torch.full((1, 3, 32, 32), 128.0)
    image[:, 0, 4:12, 4:12] = 250.0   # two red squares, apart
    image[:, 0, 20:28, 20:28] = 250.0
    merged = ColorKMeansGenerator(tiny_cfg("MODEL.PSEUDO_MASK.NUM_CLUSTERS", 2, "MODEL.PSEUDO_MASK.COLOR_STRIDE", 2))
    split = ColorKMeansGenerator(tiny_cfg("MODEL.PSEUDO_MASK.NUM_CLUSTERS", 2, "MODEL.PSEUDO_MASK.COLOR_STRIDE", 2),
                                 split_regions=True, max_masks=5)
    assert (merged.num_masks, split.num_masks) == (2, 5)
    a, b = merged(image)[0], split(image)[0]
    assert a[2:6, 2:6].unique().numel() == 1 and a[2, 2] == a[10, 10]  # one cluster for both squares
    assert b[2, 2] != b[10, 10] and b[2:6, 2:6].unique().numel() == 1 and b[10:14, 10:14].unique().numel() == 1
    assert set(b.unique().tolist()) == {0, 1, 2}  # background, then the two squares (16 cells each)
