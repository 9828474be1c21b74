"""Fixtures of the simulator's tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def float64():
    """Build networks in float64 inside the test (restored afterwards)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
