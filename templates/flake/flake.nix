{
  description = "A Hugging Face Hub kernel";

  inputs.kernel-builder.url = "github:huggingface/kernel-builder";

  outputs =
    { self, kernel-builder }:
    kernel-builder.lib.genKernelFlakeOutputs {
      inherit self;
      path = ./.;

      # Python packages for tests and shells (not part of the kernel):
      # pythonCheckInputs = ps: [ ps.numpy ];

      # Which variants `bundle` holds, as a function of the default version
      # entries (all stay available as `redistributable.<variant>`):
      # torchVersions = defaults: builtins.filter (v: (v.cudaVersion or "") != "12.6") defaults;

      # Kernels that cannot import without a GPU (e.g. `triton.autotune`)
      # may skip the get_kernel check. Not recommended.
      # doGetKernelCheck = false;
    };
}
