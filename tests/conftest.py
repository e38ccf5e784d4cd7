import pytest
import torch
from helpers import SHARED

torch.set_num_threads(2)


def pytest_configure(config):
    if not SHARED.is_dir():
        raise pytest.UsageError(f"the tests need the shared data folder beside the repository: {SHARED} is missing")
