"""GroupViT's per-image clamped background threshold (group_vit_seg.py) against the plain constant rule."""
import torch

from pseg_d2.inference import ClampedThresholdBackground

VOCABULARY = ["background", "a", "b", "c"]


def clamped_background(scores, threshold, vocabulary=VOCABULARY):
    """The rule's scores of the whole vocabulary for unpadded images [B, C', H, W]."""
    sizes = [tuple(scores.shape[-2:])] * len(scores)
    return ClampedThresholdBackground("background", threshold).fill(scores, vocabulary, sizes)


def constant_rule(scores, threshold):
    """The plain rule: a constant background channel at 0 beside the class scores, then the argmax."""
    background = torch.full_like(scores[:, :1], threshold)
    return torch.cat([background, scores], dim=1).argmax(1)


def synthetic_scores():
    """Two images [2, 3, 4, 6]: image 0 never scores above 0.6 (its best, 0.6, on class 1 in the top-left
    2 x 2 block; 0.3 elsewhere); image 1 is confident (0.99 for class 2 on its left half, 0.5 on the right)."""
    scores = torch.full((2, 3, 4, 6), 0.1)
    scores[0, 0] = 0.3
    scores[0, 1, :2, :2] = 0.6
    scores[1, 2, :, :3] = 0.99
    scores[1, 0, :, 3:] = 0.5
    return scores


def test_an_unconfident_image_keeps_its_best_class_where_its_best_score_is_reached():
    scores = synthetic_scores()
    labels = clamped_background(scores, threshold=0.95).argmax(1)  # background is label 0
    best = torch.zeros(4, 6, dtype=torch.bool)
    best[:2, :2] = True
    # threshold clamped to 0.6: the 0.6 pixels are not below it (strict <) and keep class 1 (label 2)
    assert (labels[0][best] == 2).all() and (labels[0][~best] == 0).all()
    # the constant rule makes that image all background
    assert (constant_rule(scores, 0.95)[0] == 0).all()
    # a confident image: both rules agree (threshold 0.95 stays)
    assert (labels[1][:, :3] == 3).all() and (labels[1][:, 3:] == 0).all()
    assert torch.equal(labels[1], constant_rule(scores, 0.95)[1])


def test_background_channel_is_an_indicator_and_the_scores_stay_raw():
    scores = synthetic_scores()
    out = clamped_background(scores, threshold=0.95)
    assert out.shape == (2, 4, 4, 6)
    torch.testing.assert_close(out[:, 1:], scores)  # the class scores are kept as they are, not renormalised
    assert set(out[:, 0].unique().tolist()) == {0.0, 1.0}
    # inserted at the vocabulary's background position
    moved = clamped_background(scores, 0.95, ["a", "b", "background", "c"])
    torch.testing.assert_close(moved[:, 2], out[:, 0])
    torch.testing.assert_close(moved[:, [0, 1, 3]], scores)


def test_a_lower_threshold_decides():
    scores = synthetic_scores()
    # threshold 0.35 (Pascal Context) is below image 0's best: the 0.3 pixels are background, the 0.6 ones not
    labels = clamped_background(scores, threshold=0.35).argmax(1)
    assert (labels[0][:2, :2] == 2).all() and (labels[0][2:] == 0).all()
