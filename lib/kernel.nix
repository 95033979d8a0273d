# The per-system derivations of a kernel flake, called with nixpkgs'
# `callPackage` (pkgs carries this repository's overlay: kernel-builder,
# kbManylinux, kbTorch, kbRocm, kbXpu, kbPython).
{
  lib,
  pkgs,
  callPackage,
  runCommand,
  writeShellApplication,
  mkShell,
  coreutils,
  findutils,
  python3,
  cmake,
  ninja,
  kernel-builder,
  pure,
  plan,
  path,
  system,
  kernelProvenance,
  builderProvenance,
  pythonCheckInputs,
  pythonNativeCheckInputs,
  nativeCheckInputs,
  doGetKernelCheck,
}:
let
  kernelName = plan.kernel.name;
  repoId = plan.kernel."repo-id" or null;
  localKernelsKey = if repoId != null then repoId else "local/${kernelName}";

  toolchainOf = v: callPackage ./toolchain.nix { inherit pure plan system; variant = v; };

  # Python for tests, shells and the get_kernel check: the variant's torch,
  # its python-depends, the kernels loader, pytest and the kernel's extra
  # test inputs.
  testPythonOf =
    tc:
    python3.withPackages (
      ps:
      lib.optional (tc.torch != null) tc.torch
      ++ tc.pythonDepends
      ++ [
        (pkgs.kbPython.wheel "kernels")
        ps.pytest
      ]
      ++ pythonCheckInputs ps
    );

  # Native inputs of tests and shells (the kernel's options).
  extraNative = nativeCheckInputs pkgs ++ pythonNativeCheckInputs python3.pkgs;

  # The kernel directory without build outputs, caches and VCS data: what
  # `fill-card` reads (build.toml, the Python package, CARD.md, benchmarks/).
  kernelSource = builtins.path {
    inherit path;
    name = "${kernelName}-source";
    filter = pure.sourceFilter path [ "." ];
  };
  hasCard = builtins.pathExists (path + "/CARD.md");
  benchmarks =
    if builtins.pathExists (path + "/benchmarks") then
      builtins.path {
        path = path + "/benchmarks";
        name = "${kernelName}-benchmarks";
        filter = p: _: baseNameOf p != "__pycache__" && !(lib.hasSuffix ".pyc" (baseNameOf p));
      }
    else
      null;

  # The `kernels` loader's command line (`nix run .#kernels -- ...`).
  kernels = python3.withPackages (_: [ (pkgs.kbPython.wheel "kernels") ]) // {
    meta.mainProgram = "kernels";
  };

  variant =
    name:
    let
      v = pure.variantByName plan name;
      tc = toolchainOf v;
    in
    callPackage ./variant.nix {
      inherit
        pure
        plan
        path
        kernelProvenance
        doGetKernelCheck
        ;
      variant = v;
      toolchain = tc;
      # The get_kernel check needs the kernels loader; without it, the build Python.
      testPython = if doGetKernelCheck then testPythonOf tc else tc.buildPython;
    };

  # Variants as $out/<variant> links, with the kernel card filled from
  # CARD.md ($out/CARD.md, uploaded as the Hub README) and $out/benchmarks/
  # when the kernel has them and the bundle has variants.
  bundle =
    drvs:
    runCommand "${kernelName}-bundle"
      {
        passthru.variants = map (d: d.variantName) drvs;
        nativeBuildInputs = lib.optional (hasCard && drvs != [ ]) kernel-builder;
      }
      (
        ''
          mkdir -p "$out"
        ''
        + lib.concatMapStrings (d: ''
          ln -s ${d}/${d.variantName} "$out/${d.variantName}"
        '') drvs
        + lib.optionalString (drvs != [ ] && benchmarks != null) ''
          cp -r ${benchmarks} "$out/benchmarks"
        ''
        + lib.optionalString (drvs != [ ] && hasCard) ''
          HOME=$TMPDIR kernel-builder fill-card ${kernelSource} "$out/CARD.md"
        ''
      );

  # Copy each variant of the bundle to ./build/<variant>, replacing it in
  # one rename (renameat2 exchange where available): a failed or interrupted
  # copy leaves the previous variant intact.
  copyScript = b: ''
    if [ ! -f build.toml ]; then
      echo "build-and-copy: run this in the kernel directory (the one with build.toml)" >&2
      exit 1
    fi
    mkdir -p build
    for v in ${lib.concatStringsSep " " b.variants}; do
      tmp=$(mktemp -d "build/.$v.new-XXXXXX")
      cp -r --dereference --no-preserve=mode,ownership "${b}/$v" "$tmp/$v"
      chmod -R u+w "$tmp/$v"
      if [ -e "build/$v" ]; then
        if ! mv --exchange --no-target-directory "$tmp/$v" "build/$v" 2>/dev/null; then
          mv --no-target-directory "build/$v" "$tmp/old"
          mv --no-target-directory "$tmp/$v" "build/$v"
        fi
      else
        mv --no-target-directory "$tmp/$v" "build/$v"
      fi
      rm -rf "$tmp"
      echo "build/$v"
    done
    if [ -f "${b}/CARD.md" ]; then
      cp --no-preserve=mode,ownership "${b}/CARD.md" build/.CARD.md.new
      mv build/.CARD.md.new build/CARD.md
      echo "build/CARD.md"
    fi
  '';

  buildAndCopy =
    b:
    writeShellApplication {
      name = "build-and-copy";
      runtimeInputs = [ coreutils ];
      text = copyScript b;
    };

  buildAndUpload =
    b:
    writeShellApplication {
      name = "build-and-upload";
      runtimeInputs = [
        coreutils
        kernel-builder
      ];
      text = copyScript b + ''
        kernel-builder upload . "$@"
      '';
    };

  # A directory with build/<variant> (what the tests' KERNEL_DIR and the
  # loader's LOCAL_KERNELS expect) and a Python path entry for the package.
  kernelDirOf =
    name: drv:
    runCommand "${kernelName}-${name}-kernel-dir" { } ''
      mkdir -p "$out/build" "$out/python"
      ln -s ${drv}/${name} "$out/build/${name}"
      ln -s ${drv}/${name} "$out/python/${plan.kernel."python-name"}"
    '';

  testsSource =
    if builtins.pathExists (path + "/tests") then
      builtins.path {
        path = path + "/tests";
        name = "${kernelName}-tests";
        filter = p: _: baseNameOf p != "__pycache__";
      }
    else
      null;

  # Runs on a CI machine with the variant's hardware (outside the sandbox).
  ciTest =
    name: drv:
    let
      v = pure.variantByName plan name;
      py = testPythonOf (toolchainOf v);
      dir = kernelDirOf name drv;
    in
    writeShellApplication {
      name = "ci-test-${name}";
      runtimeInputs = [
        py
        coreutils
      ]
      ++ extraNative;
      text =
        if testsSource == null then
          ''
            echo "ci-test: ${kernelName} has no tests/ directory; add tests marked @pytest.mark.kernels_ci" >&2
            exit 1
          ''
        else
          ''
            work=$(mktemp -d)
            trap 'rm -rf "$work"' EXIT
            cp -r ${testsSource} "$work/tests"
            chmod -R u+w "$work"
            cd "$work"
            export KERNEL_DIR=${dir}
            # A per-variant job tests its own backend (and fails without the
            # hardware); `ci-test` sets KB_CI_DETECT to test what is present.
            if [ -z "''${KERNEL_TEST_BACKENDS+x}" ] && [ -z "''${KB_CI_DETECT:-}" ]; then
              export KERNEL_TEST_BACKENDS=${v.backend}
            fi
            export LOCAL_KERNELS="${localKernelsKey}=${dir}"
            echo "ci-test: ${name} (backend ${v.backend})" >&2
            python -m pytest -m kernels_ci -p no:cacheprovider tests "$@"
          '';
    };

  ciTestAll =
    tests:
    writeShellApplication {
      name = "ci-test";
      runtimeInputs = tests;
      text = ''
        # Runs the kernels_ci tests of every bundle variant whose backend
        # this machine has; KERNEL_TEST_BACKENDS (e.g. `cpu,cuda`) overrides
        # the detection.
        export KB_CI_DETECT=1
        status=0
        for t in ${lib.concatStringsSep " " (map (t: t.name) tests)}; do
          "$t" || status=1
        done
        exit "$status"
      '';
    };

  # Development shell of a variant: its toolchain, kernel-builder, CMake,
  # Ninja and a `.venv` (created on first entry, with the toolchain's
  # packages visible) that stays active, so `pip install -e .` works.
  devShell =
    name:
    let
      v = pure.variantByName plan name;
      tc = toolchainOf v;
      py = testPythonOf tc;
    in
    mkShell.override { stdenv = tc.stdenv; } {
      name = "${kernelName}-${name}";
      packages = [
        py
        kernel-builder
        cmake
        ninja
        findutils
      ]
      ++ tc.nativeBuildInputs
      ++ extraNative;
      buildInputs = tc.buildInputs;
      KB_VARIANT = name;
      KB_CMAKE_FLAGS = lib.concatStringsSep " " tc.cmakeFlags;
      shellHook = ''
        if [ ! -d .venv ]; then
          echo "Creating new venv environment in path: './.venv'"
          ${py}/bin/python -m venv --system-site-packages .venv
        fi
        . .venv/bin/activate
        export LOCAL_KERNELS="${localKernelsKey}=$PWD"
        echo "kernel-builder devshell: ${name}; generate the project with \`kernel-builder create-pyproject -f --variant ${name}\`, configure with \`cmake -B build-ext $KB_CMAKE_FLAGS\`"
      '';
    };

  # Test shell: Python with the built variant importable and loadable.
  testShell =
    name: drv:
    let
      v = pure.variantByName plan name;
      py = testPythonOf (toolchainOf v);
      dir = kernelDirOf name drv;
    in
    mkShell {
      name = "${kernelName}-test-${name}";
      packages = [ py ] ++ extraNative;
      shellHook = ''
        export KERNEL_DIR=${dir}
        export LOCAL_KERNELS="${localKernelsKey}=${dir}"
        export PYTHONPATH=${dir}/python''${PYTHONPATH:+:$PYTHONPATH}
        echo "kernel-builder testshell: ${name} is importable as \`${plan.kernel."python-name"}\`; run \`python -m pytest tests\`"
      '';
    };
in
{
  inherit
    kernel-builder
    kernels
    variant
    bundle
    buildAndCopy
    buildAndUpload
    ciTest
    ciTestAll
    devShell
    testShell
    ;
  builderCommit = builderProvenance.commit;
}
