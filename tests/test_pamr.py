"""PAMR: scores snap to colour edges and stay averages; wired into inference (MODEL.PSEG.TEST.PAMR.ENABLED) and demo/demo.py --pamr."""
import numpy as np
import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data.detection_utils import read_image
from detectron2.modeling import build_model
from PIL import Image

from conftest import TINY_CONFIG, tiny_cfg
from pseg_d2.engine import PSegPredictor
from pseg_d2.inference.pamr import PAMR, ring_offsets
from pseg_d2.synthetic import WorldSpec, generate_sample
from test_predictor_demo import load_script


def two_regions(height=48, width=64, edge=28):
    """An image [1, 3, H, W] red left of column ``edge`` and blue right of it (with a little noise), the
    true left region [H, W] bool, and scores [1, 2, H, W] for (left, right) whose boundary is blurred and
    shifted 8 pixels right of the colour edge."""
    x = torch.arange(width, dtype=torch.float32).expand(height, width)
    left = x < edge
    image = torch.stack([torch.where(left, 200.0, 20.0), torch.full_like(x, 60.0), torch.where(left, 30.0, 220.0)])
    image = image + 4.0 * torch.randn(3, height, width)
    left_score = torch.sigmoid((edge + 8 - x) / 4.0)
    return image[None], left, torch.stack([left_score, 1 - left_score])[None]


def iou(scores, region):
    predicted = scores[0].argmax(0) == 0
    return ((predicted & region).sum() / (predicted | region).sum()).item()


def test_pamr_moves_a_blurred_offset_boundary_to_the_colour_edge():
    image, left, scores = two_regions()
    refined = PAMR()(image, scores)
    assert refined.shape == scores.shape
    assert iou(scores, left) < 0.8
    assert iou(refined, left) > 0.97
    # Averages of the input: the range is kept and the two scores still sum to 1 at every pixel.
    assert refined.min() >= scores.min() - 1e-6 and refined.max() <= scores.max() + 1e-6
    torch.testing.assert_close(refined.sum(1), torch.ones(1, *left.shape))


def test_pamr_keeps_shapes_and_constants_and_zero_iterations_is_identity():
    image, scores = torch.rand(2, 3, 20, 30) * 255, torch.rand(2, 5, 20, 30)
    refined = PAMR(iters=3, dilations=(1, 3))(image, scores)
    assert refined.shape == (2, 5, 20, 30) and not torch.allclose(refined, scores)
    constant = torch.full((2, 5, 20, 30), 0.7)
    torch.testing.assert_close(PAMR(iters=3, dilations=(1, 3))(image, constant), constant)
    assert torch.equal(PAMR(iters=0)(image, scores), scores)
    assert len(ring_offsets((1, 2, 4, 8, 12, 24))) == 48 and (0, 0) not in ring_offsets((1, 2))


@pytest.mark.parametrize(
    "kwargs, image_shape, scores_shape",
    [
        ({"iters": -1}, (1, 3, 8, 8), (1, 2, 8, 8)),
        ({"dilations": ()}, (1, 3, 8, 8), (1, 2, 8, 8)),
        ({"dilations": (0, 1)}, (1, 3, 8, 8), (1, 2, 8, 8)),
        ({}, (1, 3, 8, 9), (1, 2, 8, 8)),
        ({}, (3, 8, 8), (2, 8, 8)),
    ],
)
def test_pamr_refuses_bad_arguments(kwargs, image_shape, scores_shape):
    with pytest.raises(ValueError, match="PAMR needs"):
        PAMR(**kwargs)(torch.rand(image_shape), torch.rand(scores_shape))


def test_pseg_applies_pamr_only_when_enabled():
    off = build_model(tiny_cfg()).eval()
    on = build_model(tiny_cfg("MODEL.PSEG.TEST.PAMR.ENABLED", True, "MODEL.PSEG.TEST.PAMR.ITERS", 3,
                              "MODEL.PSEG.TEST.PAMR.DILATIONS", [1, 2])).eval()
    on.load_state_dict(off.state_dict())
    pamr = on.semantic_inference.pamr
    assert off.semantic_inference.pamr is None and (pamr.iters, pamr.dilations) == (3, (1, 2))

    image = torch.from_numpy(generate_sample(WorldSpec(size=64), "val", 0).image.transpose(2, 0, 1).copy())
    inputs = [{"image": image, "vocabulary": ["background", "red", "circle"]}]
    scores_off, scores_on = off(inputs)[0]["sem_seg"], on(inputs)[0]["sem_seg"]
    # Enabled: the scores of the disabled pipeline, refined with the input's colours.
    torch.testing.assert_close(scores_on, pamr(image[None].float(), scores_off[None])[0])
    # An untrained model's scores vary little across the image (about 1e-6), but PAMR must still move them.
    assert scores_on.shape == scores_off.shape and not torch.equal(scores_on, scores_off)


def test_demo_pamr_flag_writes_the_refined_scores(tmp_path):
    weights = tmp_path / "tiny.pth"
    DetectionCheckpointer(build_model(tiny_cfg()), save_dir=str(tmp_path)).save("tiny")
    image_path = tmp_path / "image.png"
    Image.fromarray(generate_sample(WorldSpec(size=64), "val", 1).image).save(image_path)
    args = ["--config-file", TINY_CONFIG, "--input", str(image_path), "--vocabulary", "red, circle", "--save-scores"]
    demo = load_script("demo/demo.py")
    for pamr in (False, True):
        demo.main(args + ["--output", str(tmp_path / f"pamr{pamr}.png")] + ["--pamr"] * pamr +
                  ["--opts", "MODEL.WEIGHTS", str(weights)])
    predictor = PSegPredictor(tiny_cfg("MODEL.WEIGHTS", str(weights), "MODEL.PSEG.TEST.PAMR.ENABLED", True))
    expected = predictor(read_image(str(image_path), format="BGR"), ["background", "red", "circle"])["sem_seg"]
    refined, plain = np.load(tmp_path / "pamrTrue_scores.npy"), np.load(tmp_path / "pamrFalse_scores.npy")
    np.testing.assert_array_equal(refined, expected.numpy())
    assert refined.shape == plain.shape and not np.allclose(refined, plain)


def reference_pamr(image, scores, iters, dilations):
    """PAMR as Araslanov & Roth's 1-stage-wseg describes it, written independently with ``unfold``: at each
    dilation d, the 3 x 3 window (replicate-padded by d) around a pixel, centre included; the colour spread is
    the std over all windows' values together; affinity -|I_centre - I_neighbour| / (0.1 * spread + 1e-8),
    averaged over colour channels, softmax over the 8 * len(dilations) neighbours; each iteration replaces
    the scores by the affinity-weighted sum of the neighbours' scores."""
    def windows(x):  # [B, C, H, W] -> [B, C, 9 * len(dilations), H, W]
        b, c, h, w = x.shape
        return torch.cat([
            torch.nn.functional.unfold(torch.nn.functional.pad(x, [d] * 4, mode="replicate"), 3, dilation=d)
            .view(b, c, 9, h, w) for d in dilations], dim=2)

    ring = [i for i in range(9 * len(dilations)) if i % 9 != 4]  # drop each window's centre
    image_windows = windows(image)
    spread = image_windows.std(dim=2, keepdim=True)
    affinity = -(image.unsqueeze(2) - image_windows[:, :, ring]).abs() / (0.1 * spread + 1e-8)
    affinity = affinity.mean(dim=1, keepdim=True).softmax(dim=2)  # [B, 1, K, H, W]
    for _ in range(iters):
        scores = (windows(scores)[:, :, ring] * affinity).sum(dim=2)
    return scores


@pytest.mark.parametrize("scale, iters, dilations", [(255.0, 10, (1, 2, 4, 8, 12, 24)), (1.0, 3, (1, 3))])
def test_pamr_equals_the_reference_window_statistics(scale, iters, dilations):
    # TCL's PAMR (1-stage-wseg's): the colour spread includes each window's centre pixel once per dilation.
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 37, 45, generator=generator, dtype=torch.float64) * scale
    scores = torch.randn(2, 4, 37, 45, generator=generator, dtype=torch.float64).softmax(dim=1)
    expected = reference_pamr(image, scores, iters, dilations)
    refined = PAMR(iters=iters, dilations=dilations)(image, scores)
    torch.testing.assert_close(refined, expected, rtol=0, atol=1e-5)
    # float32, as the model runs it
    refined32 = PAMR(iters=iters, dilations=dilations)(image.float(), scores.float())
    torch.testing.assert_close(refined32, expected.float(), rtol=0, atol=1e-5)


def test_pamr_defaults_are_tcls():
    pamr = PAMR()
    assert (pamr.iters, pamr.dilations, pamr.temperature) == (10, (1, 2, 4, 8, 12, 24), 0.1)
