"""Random weights with non-trivial statistics, for tests and benchmarks of untrained networks."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Fill weights, biases, BN running stats and spectral-norm vectors with non-trivial values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=g) + 0.5)
            elif name.endswith(("weight_u", "weight_v")):
                continue  # set with their weight_orig below
            else:
                fan_in = max(1, tensor[0].numel()) if tensor.dim() > 1 else 16
                tensor.copy_(torch.randn(tensor.shape, generator=g) / fan_in**0.5)
            if name.endswith("weight_orig"):  # u, v as a trained checkpoint has them: power-iterated
                matrix = tensor.reshape(tensor.shape[0], -1)
                v = torch.randn(matrix.shape[1], generator=g)
                for _ in range(10):
                    u = F.normalize(matrix @ v, dim=0)
                    v = F.normalize(matrix.T @ u, dim=0)
                state = model.state_dict()
                state[name[: -len("_orig")] + "_u"].copy_(u)
                state[name[: -len("_orig")] + "_v"].copy_(v)
    return model
