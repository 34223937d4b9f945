"""Gradient clipping, of the whole model or of each of its parts apart (``train.grad_clip_parts``).

Why parts: in RAM the location policy's REINFORCE gradient is noisy (norm 7-14 on a trained cluttered60
model against 2-3 for the classifier's cross-entropy, docs/recipe.md round 4), so one norm over all
parameters is set by the policy, and clipping it rescales the classifier's step by a different factor at
every step. Clipped apart, each loss's step is bounded by its own norm only.
"""

from __future__ import annotations

import torch


def clip_gradients(model, max_norm: float, by_parts: bool) -> torch.Tensor:
    """Clip the gradients in place to ``max_norm``, over all parameters or per ``model.gradient_parts()``;
    returns the norm over all parameters before clipping (the logged ``grad_norm``)."""
    if not by_parts:
        return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    norms = [torch.nn.utils.clip_grad_norm_(params, max_norm) for params in model.gradient_parts().values() if params]
    return torch.linalg.vector_norm(torch.stack(norms))  # the parts are disjoint: their norms add in squares
