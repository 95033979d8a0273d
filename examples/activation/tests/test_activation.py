import pytest
import torch
import torch.nn.functional as F

DTYPES = [torch.float32, torch.float16, torch.bfloat16]

# Tolerances against a float32 reference rounded to the test dtype: the
# kernels compute in float32 and round once, so they may differ from it by
# one unit in the last place of the output type.
TOL = {
    torch.float32: dict(rtol=2e-5, atol=2e-5),
    torch.float16: dict(rtol=2e-3, atol=2e-3),
    torch.bfloat16: dict(rtol=1.6e-2, atol=1.6e-2),
}


def silu_ref(x, threshold):
    return F.silu(x)


def gelu_ref(x, threshold):
    return F.gelu(x)


def gelu_tanh_ref(x, threshold):
    return F.gelu(x, approximate="tanh")


def fatrelu_ref(x, threshold):
    return F.threshold(x, threshold, 0.0)


def quick_gelu_ref(x, threshold):
    return x * torch.sigmoid(1.702 * x)


GATED = {
    "silu_and_mul": silu_ref,
    "gelu_and_mul": gelu_ref,
    "gelu_tanh_and_mul": gelu_tanh_ref,
    "fatrelu_and_mul": fatrelu_ref,
}
PLAIN = {
    "gelu_fast": gelu_tanh_ref,
    "gelu_new": gelu_tanh_ref,
    "gelu_quick": quick_gelu_ref,
}


def gated_reference(name, x, threshold=0.0):
    d = x.shape[-1] // 2
    xf = x.float()
    return (GATED[name](xf[..., :d], threshold) * xf[..., d:]).to(x.dtype)


def plain_reference(name, x):
    return PLAIN[name](x.float(), 0.0).to(x.dtype)


def run_gated(kernel, name, x, threshold=None):
    out = torch.empty(x.shape[:-1] + (x.shape[-1] // 2,), dtype=x.dtype, device=x.device)
    args = () if threshold is None else (threshold,)
    result = getattr(kernel, name)(out, x, *args)
    assert result is out
    return out


@pytest.mark.kernels_ci
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 2), (7, 34), (4, 256), (2, 3, 4098), (16, 8192)])
@pytest.mark.parametrize("name", sorted(GATED))
def test_gated(kernel, device, name, shape, dtype):
    x = (3 * torch.randn(shape, device=device)).to(dtype)
    out = run_gated(kernel, name, x)
    torch.testing.assert_close(out, gated_reference(name, x), **TOL[dtype])


@pytest.mark.kernels_ci
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7, 33), (4, 256), (1000003,), (2, 3, 4097)])
@pytest.mark.parametrize("name", sorted(PLAIN))
def test_plain(kernel, device, name, shape, dtype):
    x = (3 * torch.randn(shape, device=device)).to(dtype)
    out = torch.empty_like(x)
    assert getattr(kernel, name)(out, x) is out
    torch.testing.assert_close(out, plain_reference(name, x), **TOL[dtype])


@pytest.mark.kernels_ci
@pytest.mark.parametrize("threshold", [-1.0, 0.0, 0.5, 2.0])
def test_fatrelu_threshold(kernel, device, threshold):
    x = torch.randn(8, 512, device=device)
    out = run_gated(kernel, "fatrelu_and_mul", x, threshold)
    torch.testing.assert_close(out, gated_reference("fatrelu_and_mul", x, threshold), rtol=0, atol=0)


@pytest.mark.kernels_ci
@pytest.mark.parametrize("name", ["silu_and_mul", "gelu_and_mul"])
def test_extreme_values(kernel, device, name):
    # Large magnitudes saturate instead of producing inf/NaN.
    x = torch.tensor([[-1e4, -100.0, -20.0, 0.0, 20.0, 100.0, 1e4, 5.0] + [1.0] * 8], device=device)
    out = run_gated(kernel, name, x)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, gated_reference(name, x), rtol=2e-5, atol=2e-5)


@pytest.mark.kernels_ci
@pytest.mark.parametrize("offset", range(9))
def test_unaligned_views(kernel, device, offset):
    # Views at every element offset exercise the unaligned (scalar) paths.
    base = torch.randn(4 * 1024 + 16, device=device, dtype=torch.float16)
    x = base[offset : offset + 4 * 1024].view(4, 1024)
    out = run_gated(kernel, "silu_and_mul", x)
    torch.testing.assert_close(out, gated_reference("silu_and_mul", x), **TOL[torch.float16])

    out_base = torch.full((4 * 512 + 16,), 7.0, device=device, dtype=torch.float16)
    out = out_base[offset : offset + 4 * 512].view(4, 512)
    kernel.gelu_quick(out.view(-1)[:512], x.reshape(-1)[:512])
    torch.testing.assert_close(out.view(-1)[:512], plain_reference("gelu_quick", x.reshape(-1)[:512]), **TOL[torch.float16])
    # Nothing outside the output view is touched.
    assert (out_base[:offset] == 7.0).all() and (out_base[offset + 512 :] == 7.0).all()


@pytest.mark.kernels_ci
def test_rejects_bad_arguments(kernel, device):
    x = torch.randn(4, 10, device=device)
    with pytest.raises(RuntimeError, match="must have shape"):
        kernel.silu_and_mul(torch.empty(4, 10, device=device), x)
    with pytest.raises(RuntimeError, match="must be even"):
        kernel.silu_and_mul(torch.empty(4, 4, device=device), torch.randn(4, 9, device=device))
    with pytest.raises(RuntimeError, match="same dtype"):
        kernel.gelu_fast(torch.empty(4, 10, device=device, dtype=torch.float16), x)
    with pytest.raises(RuntimeError, match="unsupported dtype"):
        kernel.gelu_fast(torch.empty(4, 10, device=device, dtype=torch.float64), x.double())


LAYERS = {
    "SiluAndMul": lambda x: gated_reference("silu_and_mul", x),
    "GeluAndMul": lambda x: gated_reference("gelu_and_mul", x),
    "GeluTanhAndMul": lambda x: gated_reference("gelu_tanh_and_mul", x),
    "FatreluAndMul": lambda x: gated_reference("fatrelu_and_mul", x, 0.25),
    "FastGELU": lambda x: plain_reference("gelu_fast", x),
    "NewGELU": lambda x: plain_reference("gelu_new", x),
    "QuickGELU": lambda x: plain_reference("gelu_quick", x),
}


def make_layer(kernel, name):
    layer = getattr(kernel.layers, name)()
    if name == "FatreluAndMul":
        # State comes from the module adopting the layer.
        layer.threshold = 0.25
    return layer


@pytest.mark.kernels_ci
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layers(kernel, device, name):
    x = torch.randn(3, 5, 64, device=device)
    torch.testing.assert_close(make_layer(kernel, name)(x), LAYERS[name](x), **TOL[torch.float32])


@pytest.mark.kernels_ci
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layers_follow_layer_rules(kernel, name):
    layer = getattr(kernel.layers, name)
    assert issubclass(layer, torch.nn.Module)
    assert "__init__" not in vars(layer)
    own = {k for k in vars(layer) if not k.startswith("__")}
    assert own - {"has_backward", "can_torch_compile"} == {"forward"}
    assert layer.can_torch_compile is True
    assert layer.has_backward is False


@pytest.mark.kernels_ci
def test_torch_compile_without_graph_breaks(kernel, device):
    def f(x, y):
        d = x.shape[-1] // 2
        outs = []
        for name in sorted(GATED):
            out = torch.empty(x.shape[:-1] + (d,), dtype=x.dtype, device=x.device)
            getattr(kernel, name)(out, x)
            outs.append(out)
        for name in sorted(PLAIN):
            out = torch.empty_like(y)
            getattr(kernel, name)(out, y)
            outs.append(out)
        return torch.cat([o.flatten() for o in outs]) * 2.0

    x = torch.randn(8, 128, device=device)
    y = torch.randn(8, 64, device=device)

    explanation = torch._dynamo.explain(f)(x, y)
    assert explanation.graph_break_count == 0, explanation.break_reasons

    torch._dynamo.reset()
    compiled = torch.compile(f, fullgraph=True)
    torch.testing.assert_close(compiled(x, y), f(x, y), rtol=0, atol=0)


@pytest.mark.kernels_ci
def test_torch_compile_layers_no_recompile(kernel, device):
    class MLP(torch.nn.Module):
        def __init__(self, act):
            super().__init__()
            self.up = torch.nn.Linear(32, 128)
            self.act = act
            self.down = torch.nn.Linear(64, 32)

        def forward(self, x):
            return self.down(self.act(self.up(x)))

    model = MLP(make_layer(kernel, "SiluAndMul")).to(device)
    torch._dynamo.reset()
    compiled = torch.compile(model, fullgraph=True)
    x = torch.randn(4, 32, device=device)
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(compiled(x), expected, rtol=1e-5, atol=1e-5)
        # Same shapes again: no recompilation allowed.
        with torch._dynamo.config.patch(error_on_recompile=True):
            torch.testing.assert_close(compiled(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.kernels_ci
def test_fake_impls_are_registered_in_this_build_namespace(kernel):
    import sys

    ops_module = sys.modules[kernel.__name__ + "._ops"]
    for name in list(GATED) + list(PLAIN):
        qualname = ops_module.add_op_namespace_prefix(name)
        # The namespace is this build's unique ops name, not `activation`.
        assert qualname.startswith("_activation_"), qualname
        entry = torch._library.simple_registry.singleton.find(qualname)
        assert entry.fake_impl.kernel is not None, f"no fake impl for {qualname}"
