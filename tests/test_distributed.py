"""The contrastive loss and its gradients across 2 gloo processes equal the single-process full batch."""
import torch
import torch.nn.functional as F
from detectron2.engine import launch

from pseg_d2.modeling import ContrastiveLoss
from pseg_d2.utils.distributed import finish_distributed


def _embeddings():
    """6 image embeddings [6, 8] and 6 text embeddings [6, 8]."""
    g = torch.Generator().manual_seed(0)
    return torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)


def _loss_and_grads(image, text, scale=torch.tensor(5.0)):
    image, text = image.clone().requires_grad_(), text.clone().requires_grad_()
    loss = ContrastiveLoss()(F.normalize(image, dim=-1), F.normalize(text, dim=-1), scale)
    loss.backward()
    return loss.detach(), image.grad, text.grad


def _worker(out_dir):
    rank = torch.distributed.get_rank()
    image, text = _embeddings()
    local = slice(3 * rank, 3 * rank + 3)
    loss, image_grad, text_grad = _loss_and_grads(image[local], text[local])
    torch.save({"loss": loss, "image_grad": image_grad, "text_grad": text_grad}, f"{out_dir}/rank{rank}.pt")
    finish_distributed()


def test_gathered_contrastive_loss_equals_single_process_loss(tmp_path):
    launch(_worker, 2, dist_url="auto", args=(str(tmp_path),))
    image, text = _embeddings()
    loss, image_grad, text_grad = _loss_and_grads(image, text)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for r in ranks:
        assert torch.allclose(r["loss"], loss, atol=1e-5)
    # Every rank computes the global loss; DDP averages the ranks' gradients, which gives the
    # full-batch gradient when each rank's all-gather backward sums the gradients of all ranks.
    assert torch.allclose(torch.cat([r["image_grad"] for r in ranks]) / 2, image_grad, atol=1e-5)
    assert torch.allclose(torch.cat([r["text_grad"] for r in ranks]) / 2, text_grad, atol=1e-5)
