"""Moving averages of the generator's and style encoder's weights, kept while training: a GAN's weights jitter from
step to step, and their exponential moving average paints steadier images, so export writes the averages."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel

from .checkpoints import load_weights

AVERAGED = ("generator", "encoder")  # the networks a model folder gets
AVERAGE_SUFFIX = "_average"  # state.pt holds NAME_average beside NAME for each averaged network
AVERAGE_UPDATES = "average_updates"  # ... and how many updates the averages have had (their warm-up)


def warmed_up_ema(decay: float) -> Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor], None]:
    """AveragedModel's multi_avg_fn for an exponential moving average whose decay rises to `decay` as (1 + n) / (10 + n)
    over its first updates n: it spans about the last tenth of them, so a new run's random start soon fades."""
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], updates: torch.Tensor) -> None:
        n = int(updates)
        weight = 1 - min(decay, (1 + n) / (10 + n))
        for average, value in zip(averaged, current):
            average.lerp_(value, weight)
    return update


class WeightAverages:
    """The moving averages of a trainer's generator and style encoder (none with decay 0); buffers such as batch-norm
    statistics and spectral-norm vectors are the networks' own, copied at each update."""

    def __init__(self, modules: dict[str, torch.nn.Module], decay: float) -> None:
        self.networks = {name: module for name, module in modules.items() if name in AVERAGED} if decay else {}
        self.averages = {name: AveragedModel(module, multi_avg_fn=warmed_up_ema(decay))
                         for name, module in self.networks.items()}
        self.dropped = False  # whether a state loaded with decay 0 held averages, which its next save leaves out

    def update(self) -> None:
        """Move each average towards its network's current weights (the first update copies them)."""
        for name, average in self.averages.items():
            average.update_parameters(self.networks[name])

    def load(self, state: dict, path: Path) -> None:
        """Take the averages a training state holds; where it holds none (a new run, a compact state, a run saved
        without averages), start them at the networks' current weights."""
        if not self.averages:
            self.dropped = AVERAGE_UPDATES in state
            return
        if AVERAGE_UPDATES not in state:
            self.update()
            return
        for name, average in self.averages.items():
            load_weights(average.module, state[name + AVERAGE_SUFFIX], f"{path} ({name}{AVERAGE_SUFFIX})")
            average.n_averaged.fill_(state[AVERAGE_UPDATES])

    def state(self) -> dict[str, object]:
        """The entries a training state saves: each average's weights and the number of updates."""
        if not self.averages:
            return {}
        updates = int(next(iter(self.averages.values())).n_averaged)
        return {**{name + AVERAGE_SUFFIX: average.module.state_dict() for name, average in self.averages.items()},
                AVERAGE_UPDATES: updates}

    def put_in_place(self) -> None:
        """Load each average into its network, in place of the last weights (for export)."""
        for name, average in self.averages.items():
            self.networks[name].load_state_dict(average.module.state_dict())
