import pytest
import torch


@pytest.mark.kernels_ci
@pytest.mark.parametrize("n", [1, 255, 256, 100_003])
def test_saxpy_matches_torch(kernel, device, n):
    if device.type == "cpu":
        pytest.skip("GPU kernel (CUDA or ROCm)")
    x = torch.randn(n, device=device)
    y = torch.randn(n, device=device)
    expected = 3.0 * x + y
    assert kernel.saxpy(3.0, x, y) is y
    torch.testing.assert_close(y, expected)


@pytest.mark.kernels_ci
def test_saxpy_rejects_mismatch(kernel, device):
    if device.type == "cpu":
        pytest.skip("GPU kernel (CUDA or ROCm)")
    with pytest.raises(RuntimeError, match="shapes differ"):
        kernel.saxpy(1.0, torch.ones(3, device=device), torch.ones(4, device=device))
