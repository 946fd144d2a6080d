"""Thread settings chosen once per process (music2img.threads)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from music2img.errors import OptionError
from music2img.threads import available_cores, configure_threads, set_wait_policy


def test_configure_threads_defaults_to_the_available_cores():
    before = torch.get_num_threads()
    try:
        assert configure_threads() == available_cores() == torch.get_num_threads()
        assert configure_threads(1) == 1 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def test_configure_threads_rejects_zero_or_less():
    for bad in (0, -2, 1.5):
        with pytest.raises(OptionError, match="threads must be a whole number from 1 to"):
            configure_threads(bad)


def test_wait_policy_is_a_default_only(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    set_wait_policy()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    set_wait_policy()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"


def test_importing_music2img_sets_the_policy_before_torch_loads():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = "import sys, os, music2img; print('torch' in sys.modules, os.environ['OMP_WAIT_POLICY'])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "PASSIVE"]
