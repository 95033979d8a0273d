import pytest
import torch


@pytest.mark.kernels_ci
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (7, 13, 5), (64, 128, 96), (129, 65, 257)])
def test_gemm_bias_matches_torch(kernel, device, m, k, n):
    if device.type != "cuda":
        pytest.skip("cuBLAS kernel: CUDA only")
    a = torch.randn(m, k, device=device)
    b = torch.randn(k, n, device=device)
    bias = torch.randn(n, device=device)
    expected = 0.5 * (a @ b) + bias
    torch.testing.assert_close(kernel.gemm_bias(a, b, bias, alpha=0.5), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.kernels_ci
def test_gemm_bias_uses_current_stream(kernel, device):
    if device.type != "cuda":
        pytest.skip("cuBLAS kernel: CUDA only")
    a = torch.randn(256, 256, device=device)
    b = torch.randn(256, 256, device=device)
    bias = torch.zeros(256, device=device)
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        out = kernel.gemm_bias(a, b, bias)
    s.synchronize()
    torch.testing.assert_close(out, a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.kernels_ci
def test_gemm_bias_rejects_bad_shapes(kernel, device):
    if device.type != "cuda":
        pytest.skip("cuBLAS kernel: CUDA only")
    a = torch.randn(4, 5, device=device)
    with pytest.raises(RuntimeError, match="gemm_bias"):
        kernel.gemm_bias(a, torch.randn(6, 3, device=device), torch.randn(3, device=device))
