"""Batched K-Means on the device: every image of a batch is clustered at once, no per-image loop."""
from typing import Optional

import torch


def _squared_distances(points: torch.Tensor, centroids: torch.Tensor, points_sq: torch.Tensor) -> torch.Tensor:
    """[B, P, D] x [B, K, D], and |p|^2 [B, P, 1] -> [B, P, K] squared Euclidean distances."""
    return torch.baddbmm(points_sq, points, centroids.transpose(1, 2), alpha=-2).add_(
        centroids.pow(2).sum(-1)[:, None, :]
    ).clamp_(min=0)


def _nearest(points: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """[B, P, D] x [B, K, D] -> [B, P] index of the nearest centroid.

    ``argmin_c |p - c|^2 = argmin_c (|c|^2 - 2 p.c)``: one batched matmul, no per-point norms.
    """
    return torch.baddbmm(centroids.pow(2).sum(-1)[:, None, :], points, centroids.transpose(1, 2), alpha=-2).argmin(-1)


def _kmeans_plus_plus(points: torch.Tensor, k: int, generator: Optional[torch.Generator]) -> torch.Tensor:
    """k-means++ seeding for every image of the batch: [B, P, D] -> centroids [B, K, D]."""
    b, p, _ = points.shape
    batch = torch.arange(b, device=points.device)
    first = torch.randint(p, (b,), device=points.device, generator=generator)
    centroids = [points[batch, first]]
    points_sq = points.pow(2).sum(-1, keepdim=True)
    closest = _squared_distances(points, centroids[0][:, None], points_sq).squeeze(-1)
    for _ in range(1, k):
        # Sample proportionally to D^2; a tiny floor keeps images with < k distinct points valid.
        picked = torch.multinomial(closest + 1e-12, 1, generator=generator).squeeze(-1)
        centroids.append(points[batch, picked])
        closest = torch.minimum(closest, _squared_distances(points, centroids[-1][:, None], points_sq).squeeze(-1))
    return torch.stack(centroids, dim=1)


def batched_kmeans(
    points: torch.Tensor,
    k: int,
    num_iters: int = 30,
    tol: float = 1e-3,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Cluster the points of each image into ``k`` groups (Lloyd's algorithm, k-means++ seeding).

    Args:
        points: [B, P, D] features, P points per image.
        k: number of clusters.
        num_iters: at most this many Lloyd iterations.
        tol: stop early once fewer than this fraction of all points changed cluster in an iteration
            (one host sync per iteration for the whole batch).
        generator: seeds the initialisation, on ``points``' device, for deterministic results.
    Returns:
        [B, P] cluster index of every point, in ``[0, k)``. A cluster may end up empty.
    """
    points = points.float()
    centroids = _kmeans_plus_plus(points, k, generator)
    assignment = _nearest(points, centroids)
    for _ in range(num_iters):
        one_hot = torch.nn.functional.one_hot(assignment, k).to(points.dtype)  # [B, P, K]
        counts = one_hot.sum(1)  # [B, K]
        sums = torch.bmm(one_hot.transpose(1, 2), points)  # [B, K, D]
        centroids = torch.where(counts[..., None] > 0, sums / counts.clamp(min=1)[..., None], centroids)
        new_assignment = _nearest(points, centroids)
        changed = (new_assignment != assignment).float().mean()
        assignment = new_assignment
        if changed.item() < tol:
            break
    return assignment
