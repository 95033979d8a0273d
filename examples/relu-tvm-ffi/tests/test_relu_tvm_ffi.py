import numpy as np
import pytest
import torch


@pytest.mark.kernels_ci
@pytest.mark.parametrize("shape", [(1,), (7, 13), (3, 5, 4097)])
def test_relu_matches_torch(kernel, device, shape):
    x = torch.randn(shape, device=device)
    out = torch.full_like(x, 42.0)
    assert kernel.relu(x, out) is out
    torch.testing.assert_close(out, torch.relu(x), rtol=0, atol=0)


@pytest.mark.kernels_ci
def test_relu_special_values(kernel, device):
    x = torch.tensor([float("nan"), -0.0, 0.0, -1.0, float("-inf"), float("inf")], device=device)
    out = torch.empty_like(x)
    kernel.relu(x, out)
    torch.testing.assert_close(out, torch.relu(x), rtol=0, atol=0, equal_nan=True)
    assert torch.equal(torch.signbit(out), torch.signbit(torch.relu(x)))


@pytest.mark.kernels_ci
def test_relu_numpy_arrays(kernel, device):
    if device.type != "cpu":
        pytest.skip("NumPy arrays live on the CPU")
    x = np.linspace(-2, 2, 101, dtype=np.float32)
    out = np.empty_like(x)
    kernel.relu(x, out)
    np.testing.assert_array_equal(out, np.maximum(x, 0))


@pytest.mark.kernels_ci
def test_relu_rejects_bad_arguments(kernel, device):
    x = torch.randn(8, device=device)
    with pytest.raises(ValueError, match="same shape"):
        kernel.relu(x, torch.empty(9, device=device))
    with pytest.raises(TypeError, match="float32"):
        kernel.relu(x.double(), torch.empty(8, device=device, dtype=torch.float64))
