{
  description = "saxpy: one .cu source for CUDA and (hipified) ROCm";

  # Inside the kernel-builder repository, build against the checkout instead:
  #   nix build --override-input kernel-builder path:../.. .#bundle
  inputs.kernel-builder.url = "github:huggingface/kernel-builder";

  outputs =
    { self, kernel-builder }:
    kernel-builder.lib.genKernelFlakeOutputs {
      inherit self;
      path = ./.;
    };
}
