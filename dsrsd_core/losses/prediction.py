"""How much of a shared code the other modalities fail to predict."""
import torch


def unexplained_variance(c: torch.Tensor, c_hat: torch.Tensor, per_dim: bool = True, eps: float = 1e-4,
                         dims: torch.Tensor | None = None) -> torch.Tensor:
    """Share of the variance of ``c`` (B x q) that the prediction ``c_hat`` leaves unexplained.

        per_dim:  L = (1/q) sum_d mean_i (c_id - c^_id)^2 / (Var_i(c_id) + eps)     (mean of 1 - R^2_d)
        total:    L = sum_d mean_i (c_id - c^_id)^2 / (sum_d Var_i(c_id) + eps)    (1 - R^2 of the whole code)

    The ratio does not change when c is scaled (with c^ scaled alike), so shrinking c cannot lower
    it: a dimension of c only scores well when the other modalities predict it, i.e. when it holds
    what they also carry. ``total`` lets unpredictable dimensions fade instead of being filled.
    Leading dimensions (..., B, q) are independent batches: the mean of their losses.
    ``dims`` (..., q), 0/1: the loss of the kept columns alone (sums and q over them only).
    """
    c, c_hat = c.float(), c_hat.float()
    if c.shape[-2] < 2:
        return c.sum() * 0.0
    err = (c - c_hat).pow(2).mean(-2)
    var = c.var(-2)
    if dims is None:
        return (err / (var + eps)).mean() if per_dim else (err.sum(-1) / (var.sum(-1) + eps)).mean()
    w = dims.to(c.dtype).expand(var.shape)
    if per_dim:
        return ((err / (var + eps) * w).sum(-1) / w.sum(-1).clamp_min(1)).mean()
    return ((err * w).sum(-1) / ((var * w).sum(-1) + eps)).mean()
