"""Dependence between two views of a batch, as a loss: linear predictability and kernel (HSIC) forms."""
import torch


def _standardise(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean(-2, keepdim=True)) / (x.std(-2, keepdim=True) + 1e-4)


def linear_predictability(x: torch.Tensor, y: torch.Tensor, ridge: float = 1e-3) -> torch.Tensor:
    """Mean adjusted R^2 of least-squares regressions of each column of ``y`` (B x q) on ``x`` (B x k):

        X~, Y~ = standardised columns;  W = (X~^T X~ / B + ridge I)^-1 X~^T Y~ / B
        R^2_d = 1 - ||Y~_d - X~ W_d||^2 / ||Y~_d||^2
        L = (1/q) sum_d max(0, 1 - (1 - R^2_d) (B - 1) / (B - k - 1))

    What a linear probe from x recovers of y, undiluted by the number of dimensions that carry
    nothing (a mean squared cross-correlation over all k q pairs would be). The adjustment removes
    the k / B that k predictors fit of pure noise in a batch of B: a penalty on that noise would
    drain the private stream of everything, not just of shared content. In [0, 1].
    Leading dimensions of ``x`` (..., B, k) are several regressors of the same ``y``: the mean of their values.
    """
    x, y = _standardise(x.float()), _standardise(y.float())
    b, k = x.shape[-2:]
    if b <= k + 2:
        return x.sum() * 0.0
    gram = x.mT @ x / b + ridge * torch.eye(k, device=x.device)
    w = torch.linalg.solve(gram, x.mT @ y / b)
    r2 = 1 - (y - x @ w).pow(2).sum(-2) / y.pow(2).sum(-2).clamp_min(1e-8)
    return (1 - (1 - r2) * (b - 1) / (b - k - 1)).clamp(0, 1).mean()


def _centred_rbf(x: torch.Tensor) -> torch.Tensor:
    """Double-centred RBF Gram matrix of ``x`` (..., B, d), median-heuristic bandwidth per leading index."""
    d2 = torch.cdist(x, x).pow(2)
    bandwidth = d2.detach().flatten(-2).median(-1).values.clamp_min(1e-6)[..., None, None]
    k = torch.exp(-d2 / bandwidth)
    return k - k.mean(-2, keepdim=True) - k.mean(-1, keepdim=True) + k.mean((-2, -1), keepdim=True)


def kernel_dependence(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Centred kernel alignment of the batches ``x`` (B x d) and ``y`` (B x k), Gaussian kernels:

        K~, L~ = double-centred RBF Gram matrices (median heuristic bandwidth, columns standardised)
        L = <K~, L~>_F / (||K~||_F ||L~||_F)        (normalised HSIC, in [0, 1])

    Near 0 when x and y are independent; unlike a cross-correlation it also sees dependence that
    is not linear (e.g. y = x^2).
    """
    return kernel_dependence_matrix(x.unsqueeze(0), y.unsqueeze(0))[0, 0]


def kernel_dependence_matrix(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """:func:`kernel_dependence` of every pair: ``x`` (M, B, d), ``y`` (J, B, k) -> (M, J), entry (m, j) the
    alignment of x[m] with y[j]. Each Gram matrix is built once, not once per pair (9 pairs of 3 modalities
    built 18 in the training loop). A column constant over the batch (a pruned code coordinate) adds no
    distance, so it can stay in ``y``."""
    x, y = x.float(), y.float()
    if x.shape[-2] < 4:
        return x.new_zeros(len(x), len(y)) + 0.0 * (x.sum() + y.sum())
    k, l_ = _centred_rbf(_standardise(x)), _centred_rbf(_standardise(y))
    inner = torch.einsum("mab,jab->mj", k, l_)
    return inner / (k.flatten(1).norm(dim=1)[:, None] * l_.flatten(1).norm(dim=1)[None, :] + 1e-8)
