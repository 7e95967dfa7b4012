"""Device selection and the autocast helper (CPU here; GPU branches checked where one exists)."""

from __future__ import annotations

import pytest
import torch

from avlearn.models.device import DeviceError, autocast, autocast_dtype, resolve_device


def test_auto_and_cpu():
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == want
    assert resolve_device(None).type == want
    assert resolve_device("CPU") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "tpu:0", "cuda:-1", ""])
def test_malformed_specs(spec):
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device(spec)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_gpu_is_a_clear_error(spec):
    with pytest.raises(DeviceError, match="no CUDA GPU is available"):
        resolve_device(spec)
    assert issubclass(DeviceError, ValueError)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_index_range():
    n = torch.cuda.device_count()
    assert resolve_device(f"cuda:{n - 1}") == torch.device("cuda", n - 1)
    with pytest.raises(DeviceError, match=f"only {n} CUDA GPU"):
        resolve_device(f"cuda:{n}")
    with autocast("cuda") as dtype:
        y = torch.nn.Linear(8, 8).cuda()(torch.rand(2, 8, device="cuda"))
    assert dtype in (torch.bfloat16, torch.float16) and y.dtype == dtype


def test_autocast_is_off_on_cpu():
    assert autocast_dtype("cpu") is None
    lin = torch.nn.Linear(8, 8)
    with autocast("cpu") as dtype:
        y = lin(torch.rand(2, 8))
    assert dtype is None and y.dtype == torch.float32
    with autocast("cpu", enabled=False) as dtype:
        assert dtype is None
