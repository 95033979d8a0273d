# A stand-in for nixpkgs, for tests only: evaluates the Nix layer's
# nixpkgs-facing code (lib/kernel.nix, lib/variant.nix, lib/toolchain.nix,
# pkgs/package-set.nix, pkgs/rpm/generic-builder.nix, ...) on a machine
# without nixpkgs. "Derivations" are attribute sets that record their
# arguments, so tests can check what the real derivations would be given.
# The library functions implement the nixpkgs semantics the layer relies on;
# they are not nixpkgs.
{
  system ? "x86_64-linux",
  # Contents of pkgs/torch/wheels.json and pkgs/python/wheels.json to use.
  torchWheels ? {
    wheels = [ ];
  },
  pythonWheels ? {
    wheels = [ ];
  },
  # Extra attributes (e.g. cudaPackages_13_2 = null to simulate its absence).
  extra ? { },
  # A directory with a runnable bin/kernel-builder (e.g. the test suite's
  # bundle of the binary under test) to stand in for the kernel-builder
  # package; derivations that run it (the plan of a kernel without
  # kernel-plan.json) then really build. Without it, a placeholder.
  kernelBuilder ? null,
  # The system that builds for this one (nixpkgs' buildPlatform). The test
  # suite builds the plan of every system's stand-in on this machine.
  buildSystem ? system,
}:
let
  b = builtins;
  lib = rec {
    hasPrefix = p: s: b.substring 0 (b.stringLength p) s == p;
    hasSuffix =
      x: s:
      let
        lx = b.stringLength x;
        ls = b.stringLength s;
      in
      ls >= lx && b.substring (ls - lx) lx s == x;
    last = l: b.elemAt l (b.length l - 1);
    inherit (b)
      sort
      mapAttrs
      replaceStrings
      concatStringsSep
      filter
      attrNames
      ;
    optional = c: x: if c then [ x ] else [ ];
    concatMap = f: l: b.concatLists (map f l);
    unique = b.foldl' (acc: x: if b.elem x acc then acc else acc ++ [ x ]) [ ];
    optionals = c: l: if c then l else [ ];
    optionalString = c: s: if c then s else "";
    optionalAttrs = c: a: if c then a else { };
    concatMapStrings = f: l: b.concatStringsSep "" (map f l);
    escapeShellArg = s: "'" + b.replaceStrings [ "'" ] [ "'\\''" ] s + "'";
    getBin = d: d.bin or d;
    getDev = d: d.dev or d;
    getLib = d: d.lib or d;
    importJSON = f: b.fromJSON (b.readFile f);
    versions = {
      majorMinor =
        v:
        let
          p = b.splitVersion v;
        in
        "${b.elemAt p 0}.${b.elemAt p 1}";
      major = v: b.head (b.splitVersion v);
    };
    licenses = {
      free = "free";
      asl20 = "asl20";
      bsd3 = "bsd3";
    };
    sourceTypes.binaryNativeCode = "binaryNativeCode";
    version = "mock";
    # Fixed points, as in nixpkgs lib.fixedPoints / lib.customisation.
    extends =
      f: rattrs: self:
      let
        super = rattrs self;
      in
      super // f self super;
    composeManyExtensions = b.foldl' (
      a: x: final: prev:
      let
        fa = a final prev;
      in
      fa // x final (prev // fa)
    ) (final: prev: { });
    makeScope =
      newScope: f:
      let
        self = f self // {
          newScope = scope: newScope (self // scope);
          callPackage = self.newScope { };
        };
      in
      self;
    callPackageWith =
      autoArgs: fn: args:
      let
        f = if b.isFunction fn then fn else import fn;
      in
      f (b.intersectAttrs (b.functionArgs f) autoArgs // args);
  };

  # `passthru` attributes appear on the result, as with mkDerivation.
  drv =
    name: args:
    args
    // (args.passthru or { })
    // {
      inherit name;
      type = "derivation";
      outPath = "/nix/store/00000000000000000000000000000000-${name}";
      drvArgs = args;
    };
  tool = name: drv name { };

  mkStdenv = ccName: {
    cc = tool ccName // {
      name = ccName;
    };
    buildPlatform.system = buildSystem;
    hostPlatform = {
      inherit system;
      isLinux = lib.hasSuffix "-linux" system;
      parsed.cpu.name = b.head (b.split "-" system);
    };
    mkDerivation = args: drv "${args.pname}-${args.version}" args;
  };

  mkShell = {
    __functor = _: args: drv (args.name or "shell") args;
    override = o: {
      __functor = _: args: drv (args.name or "shell") (args // { stdenv = o.stdenv; });
    };
  };

  python3 = rec {
    version = "3.13.1";
    pythonVersion = "3.13";
    withPackages =
      f:
      drv "python3-env" {
        packages = f pkgs;
      };
    pkgs = {
      setuptools = tool "setuptools";
      pytest = tool "pytest";
      numpy = tool "numpy";
      buildPythonPackage = args: drv "${args.pname}-${args.version}" args;
      huggingface-hub = tool "huggingface-hub";
      packaging = tool "packaging";
      pyyaml = tool "pyyaml";
      filelock = tool "filelock";
      fsspec = tool "fsspec";
      jinja2 = tool "jinja2";
      networkx = tool "networkx";
      sympy = tool "sympy";
      typing-extensions = tool "typing-extensions";
      tomlkit = tool "tomlkit";
      pytest-xdist = tool "pytest-xdist";
    };
  };

  cudaPackagesFor = v: {
    cudaMajorMinorVersion = v;
    cuda_nvcc = tool "cuda_nvcc-${v}" // {
      bin = tool "cuda_nvcc-${v}-bin";
    };
    cuda_cudart = tool "cuda_cudart-${v}" // {
      dev = tool "cuda_cudart-${v}-dev";
      lib = tool "cuda_cudart-${v}-lib";
    };
    cuda_cccl = tool "cuda_cccl-${v}";
    libcublas = tool "libcublas-${v}";
    cudnn = tool "cudnn-${v}";
    nccl = tool "nccl-${v}";
  };

  base = {
    inherit lib system python3 mkShell;
    pkgs = final;
    callPackage = lib.callPackageWith final;
    newScope = scope: lib.callPackageWith (final // scope);
    stdenv = mkStdenv "nixpkgs-gcc";
    stdenvNoCC = mkStdenv "none";
    fetchurl = args: drv (args.name or (baseNameOf args.url)) args;
    runCommand = name: env: script: drv name (env // { buildCommand = script; });
    writeShellApplication =
      {
        name,
        text,
        runtimeInputs ? [ ],
      }:
      drv name { inherit text runtimeInputs; };
    symlinkJoin = args: drv args.name args // { overrideAttrs = f: drv args.name (args // f args); };
    cmake = tool "cmake";
    ninja = tool "ninja";
    patchelf = tool "patchelf";
    coreutils = tool "coreutils";
    findutils = tool "findutils";
    libarchive = tool "libarchive";
    autoPatchelfHook = tool "autoPatchelfHook";
    makeWrapper = tool "makeWrapper";
    kernel-builder =
      if kernelBuilder == null then
        tool "kernel-builder"
      else
        {
          type = "derivation";
          name = "kernel-builder";
          outPath = kernelBuilder;
        };
    # Native builds: the build machine's packages are these (unless the
    # stand-in is told another `buildSystem`, where only kernel-builder is
    # used from it).
    buildPackages = if buildSystem == system then final else { inherit (final) kernel-builder; };
    cudaPackages_12_6 = cudaPackagesFor "12.6";
    cudaPackages_13_0 = cudaPackagesFor "13.0";
    cudaPackages_13_2 = cudaPackagesFor "13.2";
    kbManylinux = {
      stdenv = mkStdenv "manylinux-gcc-toolset-14";
      description = "manylinux_2_28 (mock)";
    };
    kbTorch = {
      wheels = torchWheels;
      fromWheel =
        {
          wheel,
          runtimeLibs ? [ ],
        }:
        drv "torch-${wheel.version}" {
          inherit wheel runtimeLibs;
          version = wheel.version;
        };
    };
    kbPython = rec {
      wheelWith = torch: name: tool "python-wheel-${name}";
      wheel = wheelWith null;
      forDepends = { names, torch ? null }: map (n: tool "python-depends-${n}") names;
    };
    kbRocm.forVersion = v: { toolkit = tool "rocm-toolkit-${v}"; };
    kbXpu.forVersion = v: { toolkit = tool "oneapi-toolkit-${v}"; };
  };
  # `extra` entries set to null remove the attribute (e.g. a CUDA version the
  # pinned nixpkgs lacks).
  removed = b.filter (n: extra.${n} == null) (b.attrNames extra);
  final = b.removeAttrs (base // extra) removed;
in
final
