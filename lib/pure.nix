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

  # Read `kernel-plan.json` next to `build.toml` and check that it is current:
  # it must have been computed from this `build.toml` (sha256 of its bytes)
  # and with this flake's variant matrix. A stale plan is an error that says
  # how to refresh it; Nix never recomputes the plan itself.
  readPlan =
    {
      path,
      matrixPath ? matrixFile,
    }:
    let
      file = path + "/${planFileName}";
      buildToml = path + "/build.toml";
      exists = builtins.pathExists file;
      plan = builtins.fromJSON (builtins.readFile file);
      tomlHash = builtins.hashFile "sha256" buildToml;
      matrixHash = builtins.hashFile "sha256" matrixPath;
      check =
        if !builtins.pathExists buildToml then
          throw "kernel-builder: ${toString buildToml} does not exist; `path` must point at the kernel directory (the one with build.toml)"
        else if !exists then
          throw "kernel-builder: ${planFileName} is missing next to build.toml (${toString path}); ${rerunHint}. In a git repository, `git add ${planFileName}` so that the flake sees it."
        else if (plan.schema or null) != planSchema then
          throw "kernel-builder: ${planFileName} has schema ${toString (plan.schema or "none")}, this flake reads schema ${toString planSchema}; ${rerunHint}"
        else if (plan."build-toml-sha256" or "") != tomlHash then
          throw "kernel-builder: ${planFileName} is stale: build.toml changed since the plan was written (plan: ${plan."build-toml-sha256" or "none"}, build.toml: ${tomlHash}); ${rerunHint}"
        else if (plan."matrix-sha256" or "") != matrixHash then
          throw "kernel-builder: ${planFileName} was computed with a different variant matrix than this flake's kernel-builder (plan: ${plan."matrix-sha256" or "none"}, flake: ${matrixHash}); the flake input was probably updated. ${rerunHint}"
        else
          plan;
    in
    check;

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

  # The bundle: required variants of the system, optionally only the given
  # framework versions (`torchVersions = [ "2.15" ]`). Versions are matched
  # against the plan's own `torch.version` / `tvm-ffi.version` fields.
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
    in
    if torchVersions == null then
      vs
    else if bad != [ ] then
      throw "kernel-builder: torchVersions names ${builtins.concatStringsSep ", " bad}, which the plan has no required variant of on ${system} (available: ${builtins.concatStringsSep ", " known})"
    else
      builtins.filter (v: versionOf v == null || builtins.elem (versionOf v) torchVersions) vs;

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

  # Find the torch wheel of a variant in `pkgs/torch/wheels.json` (written
  # by `cargo xtask pkgmeta torch-wheels`), by the plan's own fields.
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
      throw "kernel-builder: no torch wheel recorded for torch ${toString tv} ${variant.backend} ${toString variant.toolkit} on ${system} in pkgs/torch/wheels.json; regenerate it with `cargo xtask pkgmeta torch-wheels -o pkgs/torch/wheels.json` (see pkgs/README.md)"
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
    readPlan
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
