import pytest
import torch
import torch.nn.functional as F

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


@pytest.mark.kernels_ci
@pytest.mark.parametrize("dtype", DTYPES)
# (100003,): more than one parallel task, and a tail after the vector loop.
@pytest.mark.parametrize("shape", [(1,), (7, 13), (64, 1024), (3, 5, 4097), (100003,)])
def test_relu_matches_torch(kernel, device, dtype, shape):
    x = torch.randn(shape, device=device).to(dtype)
    torch.testing.assert_close(kernel.relu(x), F.relu(x), rtol=0, atol=0)


@pytest.mark.kernels_ci
def test_relu_special_values(kernel, device):
    x = torch.tensor(
        [float("nan"), -0.0, 0.0, -1.0, 1.0, float("-inf"), float("inf"), -1e-30],
        device=device,
    )
    y = kernel.relu(x)
    torch.testing.assert_close(y, torch.relu(x), rtol=0, atol=0, equal_nan=True)
    # -0.0 stays -0.0, exactly as torch.relu.
    assert torch.equal(torch.signbit(y), torch.signbit(torch.relu(x)))


@pytest.mark.kernels_ci
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_relu_special_values_cpu_dtypes(kernel, device, backend, dtype):
    # The CPU kernel decides 16-bit values on their bits: NaN, -0.0, infinities
    # and values that round to -0.0 must come out exactly as torch.relu's.
    if backend != "cpu":
        pytest.skip("bit-exact special values in these dtypes are checked for the CPU kernel")
    x = torch.tensor([float("nan"), -0.0, 0.0, -1.0, 1.0, float("-inf"), float("inf"), -1e-30]).to(dtype)
    y, expected = kernel.relu(x), torch.relu(x)
    torch.testing.assert_close(y, expected, rtol=0, atol=0, equal_nan=True)
    assert torch.equal(torch.signbit(y), torch.signbit(expected))


@pytest.mark.kernels_ci
def test_relu_rejects_unsupported_dtype_cpu(kernel, backend):
    if backend != "cpu":
        pytest.skip("the dtypes beyond floating point differ per backend")
    with pytest.raises(RuntimeError, match="unsupported dtype"):
        kernel.relu(torch.arange(-3, 3))


@pytest.mark.kernels_ci
def test_relu_out(kernel, device):
    x = torch.randn(33, 65, device=device)
    out = torch.full_like(x, 42.0)
    result = kernel.relu(x, out=out)
    assert result is out
    torch.testing.assert_close(out, F.relu(x), rtol=0, atol=0)


@pytest.mark.kernels_ci
def test_relu_offset_views(kernel, device):
    # Views that start at every offset: the kernel must honour the storage
    # offset and not write outside the view.
    x = torch.arange(-20, 21, device=device, dtype=torch.float32)
    out = torch.empty_like(x)
    expected = torch.empty_like(x)
    for i in range(x.numel()):
        out.fill_(42)
        expected.fill_(42)
        kernel.relu(x[i:], out=out[i:])
        expected[i:] = F.relu(x[i:])
        torch.testing.assert_close(out, expected, rtol=0, atol=0)


@pytest.mark.kernels_ci
def test_relu_non_contiguous_input(kernel, device):
    x = torch.randn(64, 32, device=device).t()
    assert not x.is_contiguous()
    torch.testing.assert_close(kernel.relu(x), F.relu(x), rtol=0, atol=0)


@pytest.mark.kernels_ci
def test_relu_empty(kernel, device):
    x = torch.empty(0, 8, device=device)
    assert kernel.relu(x).shape == (0, 8)


@pytest.mark.kernels_ci
def test_relu_rejects_bad_out(kernel, device):
    x = torch.randn(8, device=device)
    with pytest.raises(RuntimeError, match="same shape"):
        kernel.relu(x, out=torch.empty(9, device=device))
    with pytest.raises(RuntimeError, match="same dtype"):
        kernel.relu(x, out=torch.empty(8, device=device, dtype=torch.float16))
    with pytest.raises(RuntimeError, match="contiguous"):
        kernel.relu(x, out=torch.empty(8, 2, device=device)[:, 0])


@pytest.mark.kernels_ci
def test_relu_layer(kernel, device):
    x = torch.randn(16, 128, device=device)
    layer = kernel.layers.ReLU()
    torch.testing.assert_close(layer(x), F.relu(x), rtol=0, atol=0)


@pytest.mark.kernels_ci
def test_relu_layer_follows_layer_rules(kernel):
    layer = kernel.layers.ReLU
    assert issubclass(layer, torch.nn.Module)
    assert "__init__" not in vars(layer)
    methods = {k for k, v in vars(layer).items() if callable(v) and not k.startswith("__")}
    assert methods == {"forward"}
    class_vars = {k for k in vars(layer) if not k.startswith("__") and k != "forward"}
    assert class_vars <= {"has_backward", "can_torch_compile"}


@pytest.mark.kernels_ci
def test_relu_kernelize(kernel, kernel_dir, backend, device):
    if backend == "cpu":
        pytest.skip("kernelize() has no `cpu` device type")
    from kernels import (
        LocalLayerRepository,
        Mode,
        kernelize,
        use_kernel_forward_from_hub,
        use_kernel_mapping,
    )

    @use_kernel_forward_from_hub("ReLU")
    class Act(torch.nn.Module):
        def forward(self, x):
            return F.relu(x)

    model = torch.nn.Sequential(torch.nn.Linear(8, 8), Act()).to(device)
    device_type = {"cuda": "cuda", "rocm": "rocm", "metal": "mps", "xpu": "xpu"}[backend]
    mapping = {"ReLU": {device_type: LocalLayerRepository(kernel_dir, layer_name="ReLU")}}
    with use_kernel_mapping(mapping, inherit_mapping=False):
        kernelize(model, mode=Mode.INFERENCE, device=device_type, use_fallback=False)
    x = torch.randn(4, 8, device=device)
    with torch.no_grad():
        torch.testing.assert_close(model(x), F.relu(model[0](x)), rtol=0, atol=0)


@pytest.mark.kernels_ci
def test_relu_torch_compile(kernel, device):
    def f(x):
        return kernel.relu(x * 2.0) + 1.0

    x = torch.randn(32, 32, device=device)
    compiled = torch.compile(f, fullgraph=True)
    torch.testing.assert_close(compiled(x), F.relu(x * 2.0) + 1.0, rtol=0, atol=0)
