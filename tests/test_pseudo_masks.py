import pytest
import torch

from pseg_d2.modeling import ColorKMeansGenerator, DINOKMeansGenerator, batched_kmeans
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


def test_dino_generator_errors_name_the_config_key(tmp_path):
    images = torch.zeros(1, 3, 16, 16)
    with pytest.raises(FileNotFoundError, match="MODEL.PSEUDO_MASK.VIT_WEIGHTS"):
        DINOKMeansGenerator(_dino_cfg(tmp_path / "missing.pth"))(images)
    with pytest.raises(ValueError, match="MODEL.PSEUDO_MASK.VIT_WEIGHTS"):
        DINOKMeansGenerator(_dino_cfg(""))(images)
