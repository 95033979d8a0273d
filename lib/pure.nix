# Pure helpers of the Nix layer: builtins only, no nixpkgs. Everything here
# evaluates with `nix-instantiate --eval --strict` and is tested that way
# (ci/nix.sh, builder/cli/tests/it/nix_eval.rs).
#
# The Rust plan is the single source of truth: variant names, systems,
# versions and sources come from `kernel-plan.json` (written by
# `kernel-builder plan --write`). Nothing here derives a variant name or
# filters the matrix; it only selects plan entries by their fields.
let
  planFileName = "kernel-plan.json";
  planSchema = 1;

  genAttrs =
    names: f:
    builtins.listToAttrs (
      map (n: {
        name = n;
        value = f n;
      }) names
    );

  hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
  hasSuffix =
    x: s:
    let
      lx = builtins.stringLength x;
      ls = builtins.stringLength s;
    in
    ls >= lx && builtins.substring (ls - lx) lx s == x;
  removePrefix =
    p: s:
    if hasPrefix p s then
      builtins.substring (builtins.stringLength p) (builtins.stringLength s - builtins.stringLength p) s
    else
      s;
  removeSuffix =
    x: s: if hasSuffix x s then builtins.substring 0 (builtins.stringLength s - builtins.stringLength x) s else s;
  any = pred: l: builtins.foldl' (acc: x: acc || pred x) false l;
  unique = l: builtins.foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ] l;
  concatMap = f: l: builtins.concatLists (map f l);

  rerunHint = "run `kernel-builder plan --write` in the kernel directory (with the kernel-builder of this flake: `nix run .#kernel-builder -- plan --write`), then commit ${planFileName}";

  # The variant matrix, the same file the Rust CLI embeds.
  matrixFile = ../data/matrix.toml;
  matrix = builtins.fromTOML (builtins.readFile matrixFile);

  # Check a plan against the kernel's build.toml and this flake's matrix: it
  # must have been computed from these bytes of build.toml (sha256) and with
  # this matrix. `origin` names where the plan came from, for messages.
  checkPlan =
    {
      path,
      plan,
      origin ? planFileName,
      matrixPath ? matrixFile,
    }:
    let
      buildToml = path + "/build.toml";
      tomlHash = builtins.hashFile "sha256" buildToml;
      matrixHash = builtins.hashFile "sha256" matrixPath;
      escape = "${rerunHint}, or delete ${planFileName} to let the flake compute the plan itself";
    in
    if (plan.schema or null) != planSchema then
      throw "kernel-builder: ${origin} has schema ${toString (plan.schema or "none")}, this flake reads schema ${toString planSchema}; ${escape}"
    else if (plan."build-toml-sha256" or "") != tomlHash then
      throw "kernel-builder: ${origin} is stale: build.toml changed since the plan was written (plan: ${plan."build-toml-sha256" or "none"}, build.toml: ${tomlHash}); ${escape}"
    else if (plan."matrix-sha256" or "") != matrixHash then
      throw "kernel-builder: ${origin} was computed with a different variant matrix than this flake's kernel-builder (plan: ${plan."matrix-sha256" or "none"}, flake: ${matrixHash}); the flake input was probably updated. ${escape}"
    else
      plan;

  checkBuildToml =
    path:
    if builtins.pathExists (path + "/build.toml") then
      true
    else
      throw "kernel-builder: ${toString path}/build.toml does not exist; `path` must point at the kernel directory (the one with build.toml)";

  # Read `kernel-plan.json` next to `build.toml` and check that it is current
  # (checkPlan). A stale plan is an error that says how to refresh it.
  readPlan =
    {
      path,
      matrixPath ? matrixFile,
    }:
    let
      file = path + "/${planFileName}";
    in
    assert checkBuildToml path;
    if !builtins.pathExists file then
      throw "kernel-builder: ${planFileName} is missing next to build.toml (${toString path}); ${rerunHint}. In a git repository, `git add ${planFileName}` so that the flake sees it."
    else
      checkPlan {
        inherit path matrixPath;
        plan = builtins.fromJSON (builtins.readFile file);
      };

  # The derivation that computes the plan file from build.toml alone with
  # the Rust CLI (`kernel-builder nix plan-file`), for kernels that commit
  # no kernel-plan.json. It runs the CLI directly (no shell, no stdenv), so
  # any `kernelBuilder` package for the build machine will do.
  planDerivation =
    {
      path,
      kernelBuilder,
      system,
    }:
    assert checkBuildToml path;
    derivation {
      name = planFileName;
      inherit system;
      builder = "${kernelBuilder}/bin/kernel-builder";
      args = [
        "nix"
        "plan-file"
        "--no-source-checks"
        "--out"
        (builtins.placeholder "out")
        (builtins.path {
          path = path + "/build.toml";
          name = "build.toml";
        })
      ];
    };

  # The plan of a kernel: its committed kernel-plan.json when there is one
  # (the fast path, checked for staleness), otherwise computed by the Rust
  # CLI in a derivation and read back (import from derivation: evaluation
  # builds `kernelBuilder` and runs it once per build.toml).
  planFor =
    {
      path,
      kernelBuilder ? null,
      system ? null,
    }:
    if builtins.pathExists (path + "/${planFileName}") || kernelBuilder == null then
      readPlan { inherit path; }
    else
      checkPlan {
        inherit path;
        origin = "the plan computed from build.toml";
        plan = builtins.fromJSON (
          builtins.readFile (planDerivation {
            inherit path kernelBuilder system;
          })
        );
      };

  # Variants built on `system`: the system's own variants plus the noarch
  # ones (system = null), in plan order. `list-variants --system S` lists
  # exactly these.
  variantsForSystem =
    plan: system: builtins.filter (v: v.system == system || v.system == null) plan.variants;

  variantNames = plan: system: map (v: v.name) (variantsForSystem plan system);

  variantByName =
    plan: name:
    let
      found = builtins.filter (v: v.name == name) plan.variants;
    in
    if found == [ ] then
      throw "kernel-builder: `${name}` is not a variant of ${plan.kernel.name}; `kernel-builder list-variants` shows them"
    else
      builtins.head found;

  # Systems the flake exposes outputs for: those of the matrix.
  systems = matrix.systems;

  # The matrix in the shape of the reference builder's `torchVersions`
  # entries ({ torchVersion; cudaVersion | rocmVersion | xpuVersion | cpu |
  # metal = true; systems; bundleBuild; }), tvm-ffi entries with
  # `tvmFfiVersion` instead of `torchVersion`. Kernel flakes pass a function
  # of this list as `torchVersions` (e.g. to leave a CUDA version out).
  referenceVersions = map (
    e:
    let
      tk = e.toolkit or null;
      compute =
        if e.backend == "cuda" then
          { cudaVersion = tk; }
        else if e.backend == "rocm" then
          { rocmVersion = tk; }
        else if e.backend == "xpu" then
          { xpuVersion = tk; }
        else
          { ${e.backend} = true; };
      framework =
        if e.framework == "torch" then { torchVersion = e.version; } else { tvmFfiVersion = e.version; };
    in
    framework
    // compute
    // {
      systems = e.systems;
      bundleBuild = e.required or false;
    }
  ) matrix.entry;

  # What identifies a version entry (not its systems or bundle flag).
  versionKey = e: builtins.toJSON (builtins.removeAttrs e [ "systems" "bundleBuild" ]);

  # Does version entry `e` select plan variant `v` on `system`?
  versionSelects =
    e: v: system:
    let
      tk = v.toolkit or null;
      backendOk =
        if v.backend == "cuda" then
          (if tk == null then e ? cudaVersion else (e.cudaVersion or null) == tk)
        else if v.backend == "rocm" then
          (if tk == null then e ? rocmVersion else (e.rocmVersion or null) == tk)
        else if v.backend == "xpu" then
          (if tk == null then e ? xpuVersion else (e.xpuVersion or null) == tk)
        else
          e.${v.backend} or false;
      frameworkOk =
        if (v.torch or null) != null then
          (e.torchVersion or null) == v.torch.version
        else if (v."tvm-ffi" or null) != null then
          (e.tvmFfiVersion or null) == v."tvm-ffi".version
        else
          true;
    in
    backendOk && frameworkOk && builtins.elem system (e.systems or [ system ]);

  # The bundle of a system. `torchVersions`:
  #   null                 the plan's required variants;
  #   [ "2.15" ]           those of the listed framework versions;
  #   defaults: [ ... ]    as the reference builder: a function of
  #                        `referenceVersions` whose `bundleBuild` entries
  #                        select plan variants. Entries the matrix does not
  #                        have are an error (only plan variants exist).
  bundleVariants =
    {
      plan,
      system,
      torchVersions ? null,
    }:
    let
      vs = builtins.filter (v: v.required) (variantsForSystem plan system);
      versionOf =
        v:
        if v.torch != null then
          v.torch.version
        else if (v."tvm-ffi" or null) != null then
          v."tvm-ffi".version
        else
          null;
      known = unique (builtins.filter (x: x != null) (map versionOf vs));
      bad = builtins.filter (t: !(builtins.elem t known)) torchVersions;
      entries = torchVersions referenceVersions;
      defaultKeys = map versionKey referenceVersions;
      foreign = builtins.filter (e: !(builtins.elem (versionKey e) defaultKeys)) entries;
      bundled = builtins.filter (e: e.bundleBuild or false) entries;
    in
    if torchVersions == null then
      vs
    else if builtins.isFunction torchVersions then
      if !(builtins.isList entries) then
        throw "kernel-builder: `torchVersions` must return a list of version entries (it is called with the defaults: `torchVersions = defaults: ...`)"
      else if foreign != [ ] then
        throw "kernel-builder: `torchVersions` returned ${versionKey (builtins.head foreign)}, which this kernel-builder's matrix (data/matrix.toml) does not have; only plan variants can be built (`kernel-builder list-variants`)"
      else
        builtins.filter (v: any (e: versionSelects e v system) bundled) (variantsForSystem plan system)
    else if bad != [ ] then
      throw "kernel-builder: torchVersions names ${builtins.concatStringsSep ", " bad}, which the plan has no required variant of on ${system} (available: ${builtins.concatStringsSep ", " known})"
    else
      builtins.filter (v: versionOf v == null || builtins.elem (versionOf v) torchVersions) vs;

  # One variant per backend of a system (for the `ci` output), as the Rust
  # side chose them (`ci-variants` of the plan file).
  ciVariants =
    plan: system:
    let
      per = (plan."ci-variants" or { }).${system} or { };
    in
    map (b: variantByName plan per.${b}) (builtins.attrNames per);

  # The default variant of a system, chosen by the Rust side and recorded in
  # the plan file (`default-variants`).
  defaultVariant =
    plan: system:
    let
      d = plan."default-variants" or { };
    in
    if d ? ${system} then
      variantByName plan d.${system}
    else
      throw "kernel-builder: the plan has no variant for ${system}";

  hasVariantsFor = plan: system: variantsForSystem plan system != [ ];

  # Paths (relative to the kernel root) a variant build reads: build.toml,
  # the Python package, framework binding sources and includes, and every
  # kernel's sources and includes. Include entries are directories.
  sourcePaths =
    plan: variant:
    unique (
      [
        "build.toml"
        plan.kernel."python-package"
      ]
      ++ (variant.src or [ ])
      ++ (variant.include or [ ])
      ++ concatMap (k: (k.src or [ ]) ++ (k.include or [ ])) (variant.kernels or [ ])
    );

  normalizeRel =
    p:
    let
      a = removePrefix "./" p;
      b = removeSuffix "/" a;
    in
    if b == "" then "." else b;

  # Never part of a source set, even under an included directory.
  junk = [
    ".git"
    ".venv"
    ".direnv"
    "__pycache__"
    "build"
    "result"
    "node_modules"
  ];

  # A `builtins.path` filter that admits exactly the listed files and
  # directories (and the directories leading to them). `root` is the kernel
  # directory as a string.
  sourceFilter =
    root: rels:
    let
      rootStr = toString root;
      wanted = map normalizeRel rels;
      whole = builtins.elem "." wanted;
    in
    path: type:
    let
      rel = removePrefix (rootStr + "/") (toString path);
      base = baseNameOf (toString path);
      topLevel = builtins.match "[^/]*" rel != null;
      isJunk =
        base == "__pycache__"
        || hasSuffix ".pyc" base
        || (topLevel && builtins.elem base junk);
      inWanted = any (w: rel == w || hasPrefix (w + "/") rel) wanted;
      leadsTo = type == "directory" && any (w: hasPrefix (rel + "/") w) wanted;
    in
    !isJunk && (whole || inWanted || leadsTo);

  # Check that every path the plan names exists, with an error naming it.
  checkSourcePaths =
    root: rels:
    let
      missing = builtins.filter (r: r != "." && !builtins.pathExists (root + "/${normalizeRel r}")) rels;
    in
    if missing == [ ] then
      true
    else
      throw "kernel-builder: build.toml names ${builtins.concatStringsSep ", " (map (m: "`${m}`") missing)}, which does not exist under ${toString root}; fix the path in build.toml or add the file (and `git add` it)";

  # The source set of one variant: a store path holding only what it reads.
  variantSource =
    {
      path,
      plan,
      variant,
    }:
    let
      rels = sourcePaths plan variant;
    in
    assert checkSourcePaths path rels;
    builtins.path {
      inherit path;
      name = "${plan.kernel.name}-${variant.name}-source";
      filter = sourceFilter path rels;
    };

  # Provenance from flake git information. `self.rev` is set for clean
  # trees; `self.dirtyRev` (Nix >= 2.16) for trees with uncommitted changes.
  # The unique id follows the rule of every build path: short commit, with
  # `_dirty` for uncommitted trees; outside git a stable id from the source
  # hash (a flake evaluation has no randomness).
  provenance =
    self:
    let
      dirtyRev = self.dirtyRev or null;
      commit =
        if self ? rev then
          self.rev
        else if dirtyRev != null then
          removeSuffix "-dirty" dirtyRev
        else
          null;
      dirty = !(self ? rev);
      short = if commit == null then null else builtins.substring 0 7 commit;
      unique =
        if short == null then
          "nogit" + builtins.substring 0 8 (builtins.hashString "sha256" (self.narHash or (toString self)))
        else if dirty then
          "${short}_dirty"
        else
          short;
    in
    {
      inherit commit dirty unique;
    };

  opsName = plan: variant: unique': "_${plan.kernel."python-name"}_${variant.backend}_${unique'}";

  # The compute toolkit of a variant, checked against the matrix: which
  # nixpkgs CUDA package set, or which ROCm/XPU package-set version.
  toolkitFor =
    variant:
    let
      tk = variant.toolkit;
      known = kind: matrix.${kind} or { };
      check =
        kind:
        if (known kind) ? ${tk} then
          true
        else
          throw "kernel-builder: variant ${variant.name} uses ${kind} ${tk}, which this flake's matrix does not know (known: ${builtins.concatStringsSep ", " (builtins.attrNames (known kind))}); update the kernel-builder flake input and rerun `kernel-builder plan --write`";
    in
    if variant.backend == "cuda" && tk != null then
      assert check "cuda";
      {
        kind = "cuda";
        version = tk;
        nixpkgsAttr = "cudaPackages_" + builtins.replaceStrings [ "." ] [ "_" ] tk;
      }
    else if variant.backend == "rocm" && tk != null then
      assert check "rocm";
      {
        kind = "rocm";
        version = tk;
      }
    else if variant.backend == "xpu" && tk != null then
      assert check "xpu";
      {
        kind = "xpu";
        version = tk;
      }
    else
      # cpu, metal, and noarch variants of any backend: no toolkit.
      {
        kind = "none";
        version = null;
      };

  # Find the torch wheel of a variant among the recorded ones, by the plan's
  # own fields. `wheels.wheels` merges pkgs/torch/wheels.json (the Python
  # package index: committed) and pkgs/torch/wheels-pytorch.json (PyTorch's
  # own indexes: generated where download.pytorch.org is reachable).
  torchWheelFor =
    {
      wheels,
      variant,
      system,
    }:
    let
      tv = if variant.torch != null then variant.torch.version else null;
      matches = builtins.filter (
        w:
        w.torch == tv
        && w.backend == variant.backend
        && (w.toolkit or null) == variant.toolkit
        && w.system == system
      ) (wheels.wheels or [ ]);
    in
    if matches == [ ] then
      throw "kernel-builder: no torch wheel is recorded for torch ${toString tv} ${variant.backend} ${toString variant.toolkit} on ${system}: pkgs/torch/wheels.json has what the Python package index serves, and this wheel is on PyTorch's own index. On a machine that reaches download.pytorch.org run `cargo xtask pkgmeta torch-wheels --python cp313 -o pkgs/torch/wheels-pytorch.json` in the kernel-builder checkout (see pkgs/README.md)"
    else
      builtins.head matches;

  # The CI matrix entries of `kernel-builder ci-matrix --json`, as Nix sees
  # them: one per variant and system. Used to check both agree.
  ciJobs =
    plan:
    concatMap (
      s:
      map (v: {
        variant = v.name;
        system = s;
      }) (variantsForSystem plan s)
    ) systems;
in
{
  inherit
    planFileName
    genAttrs
    hasPrefix
    hasSuffix
    removePrefix
    removeSuffix
    unique
    matrix
    matrixFile
    checkPlan
    readPlan
    planDerivation
    planFor
    referenceVersions
    versionSelects
    ciVariants
    variantsForSystem
    variantNames
    variantByName
    systems
    bundleVariants
    defaultVariant
    hasVariantsFor
    sourcePaths
    sourceFilter
    checkSourcePaths
    variantSource
    provenance
    opsName
    toolkitFor
    torchWheelFor
    ciJobs
    ;
}
