import pytest
import torch


@pytest.mark.kernels_ci
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (7, 13, 5), (64, 128, 96), (130, 67, 255)])
def test_gemm_matches_torch(kernel, device, m, k, n):
    if device.type != "cuda":
        pytest.skip("CUTLASS kernel: CUDA only")
    a = torch.randn(m, k, device=device)
    b = torch.randn(k, n, device=device)
    torch.testing.assert_close(kernel.gemm(a, b, alpha=2.0), 2.0 * (a @ b), rtol=1e-4, atol=1e-4)


@pytest.mark.kernels_ci
def test_gemm_rejects_bad_shapes(kernel, device):
    if device.type != "cuda":
        pytest.skip("CUTLASS kernel: CUDA only")
    with pytest.raises(RuntimeError, match="gemm"):
        kernel.gemm(torch.randn(4, 5, device=device), torch.randn(6, 3, device=device))
