# Helpers for kernel-builder generated projects. Generated; do not edit.
#
# Device code (CUDA, HIP, SYCL, Metal) is compiled with explicit rules that
# call the compiler named in KB_NVCC / KB_HIPCC / KB_SYCL_CXX / xcrun, with
# depfiles for incremental builds. This keeps toolkit discovery out of CMake.

# Torch: headers, libraries and ABI flag from the Python package.
set(KB_CMAKE_DIR "${CMAKE_CURRENT_LIST_DIR}")

if(KB_BACKEND STREQUAL "xpu")
  # One module carries an ahead-of-time image per GPU in KB_SYCL_AOT_DEVICES
  # (spir64_gen) plus SPIR-V (spir64) that the runtime JIT-compiles for
  # other devices. The values come from the plan (generated CMakeLists.txt).
  set(KB_SYCL_COMPILE_FLAGS -fsycl -fhonor-nans -fhonor-infinities -fno-associative-math -fno-approx-func
    -fno-sycl-instrument-device-code --offload-compress "-fsycl-targets=${KB_SYCL_TARGETS}")
  set(KB_SYCL_LINK_FLAGS --offload-compress "-fsycl-targets=${KB_SYCL_TARGETS}"
    "-Xsycl-target-backend=spir64_gen" "-device ${KB_SYCL_AOT_DEVICES} -options '${KB_SYCL_AOT_OPTIONS}'")
endif()

# Python headers for the limited API. kernel-builder passes the directory it
# probed (KB_PYTHON_INCLUDE_DIR); otherwise FindPython3 looks for them. A macro:
# find_package sets its results in the caller's scope.
macro(kb_find_python)
  if(KB_PYTHON_INCLUDE_DIR AND EXISTS "${KB_PYTHON_INCLUDE_DIR}/Python.h")
    set(Python3_INCLUDE_DIRS "${KB_PYTHON_INCLUDE_DIR}")
    message(STATUS "kernel-builder: Python headers ${KB_PYTHON_INCLUDE_DIR} (${Python3_EXECUTABLE}, as probed)")
  else()
    find_package(Python3 3.9 REQUIRED COMPONENTS Interpreter Development.SABIModule)
  endif()
endmacro()

# Call after kb_find_python() at top level.
# kernel-builder passes what it probed (KB_TORCH_INCLUDE_DIRS, KB_TORCH_LIB_DIR,
# KB_TORCH_CXX11_ABI, KB_TORCH_VERSION) as -D values; without them torch is
# imported here once.
function(kb_find_torch)
  if(KB_TORCH_INCLUDE_DIRS AND KB_TORCH_LIB_DIR AND DEFINED KB_TORCH_CXX11_ABI)
    message(STATUS "kernel-builder: torch ${KB_TORCH_VERSION} (${KB_TORCH_LIB_DIR}, as probed)")
    return()
  endif()
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" -c
      "import os, torch, torch.utils.cpp_extension as e; print(','.join(e.include_paths())); print(os.path.join(os.path.dirname(torch.__file__), 'lib')); print(int(torch.compiled_with_cxx11_abi())); print(torch.__version__)"
    OUTPUT_VARIABLE _out RESULT_VARIABLE _rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "kernel-builder: cannot import torch with ${Python3_EXECUTABLE}; install torch in that environment or pass -DPython3_EXECUTABLE=...")
  endif()
  string(REPLACE "\n" ";" _lines "${_out}")
  list(GET _lines 0 _inc)
  list(GET _lines 1 _lib)
  list(GET _lines 2 _abi)
  list(GET _lines 3 _ver)
  string(REPLACE "," ";" _inc "${_inc}")
  set(KB_TORCH_INCLUDE_DIRS "${_inc}" PARENT_SCOPE)
  set(KB_TORCH_LIB_DIR "${_lib}" PARENT_SCOPE)
  set(KB_TORCH_CXX11_ABI "${_abi}" PARENT_SCOPE)
  set(KB_TORCH_VERSION "${_ver}" PARENT_SCOPE)
  message(STATUS "kernel-builder: torch ${_ver} (${_lib})")
endfunction()

# tvm-ffi: headers and library from the Python package (tvm_ffi.config).
function(kb_find_tvm_ffi)
  execute_process(
    COMMAND "${Python3_EXECUTABLE}" -c
      "import tvm_ffi, tvm_ffi.libinfo as l; print(tvm_ffi.__version__); print(l.find_include_path()); print(l.find_dlpack_include_path()); print(l.find_libtvm_ffi())"
    OUTPUT_VARIABLE _out RESULT_VARIABLE _rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "kernel-builder: cannot import tvm_ffi with ${Python3_EXECUTABLE}; install apache-tvm-ffi in that environment or pass -DPython3_EXECUTABLE=...")
  endif()
  string(REPLACE "\n" ";" _lines "${_out}")
  list(GET _lines 0 _ver)
  list(GET _lines 1 _inc)
  list(GET _lines 2 _dlpack)
  list(GET _lines 3 _lib)
  set(KB_TVM_FFI_INCLUDE_DIRS "${_inc};${_dlpack}" PARENT_SCOPE)
  set(KB_TVM_FFI_LIBRARY "${_lib}" PARENT_SCOPE)
  # tvm-ffi's ABI is C; C++ code compiled here uses the C++11 std::string.
  set(KB_TORCH_CXX11_ABI 1 PARENT_SCOPE)
  message(STATUS "kernel-builder: tvm-ffi ${_ver} (${_lib})")
endfunction()

function(kb_configure_tvm_ffi_extension target)
  target_include_directories(${target} SYSTEM PRIVATE ${KB_TVM_FFI_INCLUDE_DIRS})
  target_compile_definitions(${target} PRIVATE _GLIBCXX_USE_CXX11_ABI=1)
  target_link_libraries(${target} PRIVATE "${KB_TVM_FFI_LIBRARY}")
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fno-gnu-unique>)
  endif()
  if(APPLE)
    target_link_options(${target} PRIVATE "LINKER:-undefined,dynamic_lookup")
  endif()
  set_property(GLOBAL PROPERTY KB_DEVICE_OBJECTS "")
  set_property(GLOBAL PROPERTY KB_USES_CUDA OFF)
  set_property(GLOBAL PROPERTY KB_USES_HIP OFF)
  set_property(GLOBAL PROPERTY KB_USES_SYCL OFF)
endfunction()

function(kb_configure_extension target)
  target_include_directories(${target} SYSTEM PRIVATE ${KB_TORCH_INCLUDE_DIRS} ${Python3_INCLUDE_DIRS})
  target_compile_definitions(${target} PRIVATE
    _GLIBCXX_USE_CXX11_ABI=${KB_TORCH_CXX11_ABI}
    Py_LIMITED_API=0x03090000)
  if(KB_STABLE_ABI)
    target_compile_definitions(${target} PRIVATE TORCH_TARGET_VERSION=${KB_STABLE_ABI})
  endif()
  # torch parallelizes with OpenMP, and at::parallel_for is a template that
  # runs in our code: without -fopenmp its pragmas are ignored and every
  # parallel_for is serial. Compile only: libgomp is not linked, the GOMP
  # symbols resolve to the OpenMP runtime torch has already loaded.
  foreach(_d IN LISTS KB_TORCH_INCLUDE_DIRS)
    if(EXISTS "${_d}/ATen/Config.h")
      file(STRINGS "${_d}/ATen/Config.h" _omp REGEX "^#define AT_PARALLEL_OPENMP 1")
      if(_omp AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
        target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fopenmp>)
      endif()
      break()
    endif()
  endforeach()
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # Each build registers a unique namespace; gnu-unique symbols would pin
    # the library in memory and break loading two builds side by side.
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-fno-gnu-unique>)
  endif()
  set(_libs "${KB_TORCH_LIB_DIR}/libc10${CMAKE_SHARED_LIBRARY_SUFFIX}" "${KB_TORCH_LIB_DIR}/libtorch_cpu${CMAKE_SHARED_LIBRARY_SUFFIX}")
  if(NOT KB_STABLE_ABI)
    list(APPEND _libs "${KB_TORCH_LIB_DIR}/libtorch${CMAKE_SHARED_LIBRARY_SUFFIX}")
  endif()
  target_link_libraries(${target} PRIVATE ${_libs})
  if(APPLE)
    target_link_options(${target} PRIVATE "LINKER:-undefined,dynamic_lookup")
  endif()
  kb_glibc_compat(${target})
  set_property(GLOBAL PROPERTY KB_DEVICE_OBJECTS "")
  set_property(GLOBAL PROPERTY KB_USES_CUDA OFF)
  set_property(GLOBAL PROPERTY KB_USES_HIP OFF)
  set_property(GLOBAL PROPERTY KB_USES_SYCL OFF)
endfunction()

# A binding source: the only kind of source that sees the ops name
# (TORCH_EXTENSION_NAME or TVM_FFI_EXTENSION_NAME, from cmake/ops_name.h).
function(kb_add_binding_source target src)
  target_sources(${target} PRIVATE "${src}")
  if(src MATCHES "\\.(c|cc|cpp|cxx|mm)$")
    # Joined `-include<file>`: CMake de-duplicates separate option words.
    set_property(SOURCE "${src}" TARGET_DIRECTORY ${target} APPEND PROPERTY COMPILE_OPTIONS "-include${KB_CMAKE_DIR}/ops_name.h")
  endif()
  if(src MATCHES "\\.(cc|cpp|cxx)$")
    set_property(SOURCE "${src}" TARGET_DIRECTORY ${target} PROPERTY KB_PCH_SOURCE ON)
  endif()
endfunction()

# --- precompiled torch headers (local backend, GCC) -----------------------
# KB_PCH_HEADER (set by kernel-builder) holds the glibc compat header's text
# and the torch includes of the C++ binding sources; KB_PCH_KERNEL_HEADER the
# same for the kernel sources in KB_PCH_KERNEL_SOURCES (relative to KB_ROOT:
# host C++ sources of kernels without flags of their own that reach torch
# headers, with no macro before them). Each is force-included first into its
# sources; kernel-builder places the precompiled <header>.gch next to it,
# built once per compiler, flags and header in its cache. GCC reads the
# header as text when the .gch is missing or does not fit, so it costs time,
# never correctness. Other sources are unchanged.
function(_kb_pch_enabled out)
  if((KB_PCH_HEADER OR KB_PCH_KERNEL_HEADER) AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    set(${out} ON PARENT_SCOPE)
  else()
    set(${out} OFF PARENT_SCOPE)
  endif()
endfunction()

# With a precompiled header the force-included files are set per source, the
# precompiled one first (GCC uses it only ahead of any other code).
function(_kb_pch_force_includes target)
  _kb_pch_enabled(_pch)
  if(NOT _pch)
    return()
  endif()
  set(_compat)
  if(KB_GLIBC_COMPAT_DIR)
    set(_compat "-include${KB_GLIBC_COMPAT_DIR}/kb_glibc_compat.h")
  endif()
  set(_kernel_sources)
  foreach(_r IN LISTS KB_PCH_KERNEL_SOURCES)
    list(APPEND _kernel_sources "${KB_ROOT}/${_r}")
  endforeach()
  get_target_property(_sources ${target} SOURCES)
  foreach(_s IN LISTS _sources)
    get_source_file_property(_b "${_s}" TARGET_DIRECTORY ${target} KB_PCH_SOURCE)
    set(_h)
    if(_b)
      set(_h "${KB_PCH_HEADER}")
    elseif(KB_PCH_KERNEL_HEADER AND _s IN_LIST _kernel_sources)
      set(_h "${KB_PCH_KERNEL_HEADER}")
    endif()
    if(_h)
      set(_first "-include${_h}")
      # The header's text changes when the compat header or the includes
      # do; the dependency file lists what the precompiled header read.
      set_property(SOURCE "${_s}" TARGET_DIRECTORY ${target} APPEND PROPERTY OBJECT_DEPENDS "${_h}")
      set_property(SOURCE "${_s}" TARGET_DIRECTORY ${target} APPEND PROPERTY COMPILE_OPTIONS "-fpch-deps")
    elseif(_compat AND _s MATCHES "\\.(c|cc|cpp|cxx|c\\+\\+|C)$")
      set(_first "${_compat}")
    else()
      continue()
    endif()
    get_source_file_property(_o "${_s}" TARGET_DIRECTORY ${target} COMPILE_OPTIONS)
    if(NOT _o)
      set(_o)
    endif()
    set_property(SOURCE "${_s}" TARGET_DIRECTORY ${target} PROPERTY COMPILE_OPTIONS "${_first}" ${_o})
  endforeach()
endfunction()
# --- end precompiled torch headers -----------------------------------------

# Compile one device source with an explicit rule (compiler, depfile, object).
function(kb_device_object target kind src includes cxx_flags device_flags targets defines files)
  set(_deps "${src}")
  get_filename_component(_name "${src}" NAME)
  string(MAKE_C_IDENTIFIER "${src}" _id)
  set(_obj "${CMAKE_CURRENT_BINARY_DIR}/kb-objects/${_id}.o")
  set(_dep "${_obj}.d")
  set(_incs)
  foreach(_d IN LISTS KB_TORCH_INCLUDE_DIRS KB_TVM_FFI_INCLUDE_DIRS includes)
    list(APPEND _incs "-I${_d}")
  endforeach()
  get_target_property(_tincs ${target} INCLUDE_DIRECTORIES)
  if(_tincs)
    foreach(_d IN LISTS _tincs)
      list(APPEND _incs "-I${_d}")
    endforeach()
  endif()
  if(Python3_INCLUDE_DIRS)
    list(APPEND _incs "-I${Python3_INCLUDE_DIRS}")
  endif()
  set(_defs "-D_GLIBCXX_USE_CXX11_ABI=${KB_TORCH_CXX11_ABI}" "-DPy_LIMITED_API=0x03090000")
  foreach(_d IN LISTS defines)
    list(APPEND _defs "-D${_d}")
  endforeach()
  if(KB_STABLE_ABI)
    list(APPEND _defs "-DTORCH_TARGET_VERSION=${KB_STABLE_ABI}")
  endif()
  set(_opt -O3)
  if(CMAKE_BUILD_TYPE STREQUAL "Debug")
    set(_opt -O0 -g)
  endif()
  if(kind STREQUAL "cuda")
    if(NOT KB_NVCC)
      message(FATAL_ERROR "kernel-builder: CUDA sources need KB_NVCC (path to nvcc)")
    endif()
    # As find_package(Torch) compiles CUDA: CUDA's own half/bfloat16
    # operators stay enabled (kernels written for Hub builders use them);
    # USE_CUDA declares the CUDA parts of Torch's headers and C shim (e.g.
    # aoti_torch_get_current_cuda_stream).
    list(APPEND _defs -DCUDA_KERNEL -DUSE_CUDA=1)
    foreach(_d IN LISTS KB_CUDA_INCLUDE_DIRS)
      list(APPEND _incs "-isystem" "${_d}")
    endforeach()
    set(_arch)
    foreach(_cap IN LISTS targets)
      string(REPLACE "+PTX" "" _base "${_cap}")
      string(REPLACE "." "" _sm "${_base}")
      list(APPEND _arch "-gencode=arch=compute_${_sm},code=sm_${_sm}")
      if(_cap MATCHES "\\+PTX$")
        list(APPEND _arch "-gencode=arch=compute_${_sm},code=compute_${_sm}")
      endif()
    endforeach()
    set(_xcomp)
    foreach(_f IN LISTS cxx_flags)
      list(APPEND _xcomp "-Xcompiler=${_f}")
    endforeach()
    set(_cmd "${KB_NVCC}" -c "${src}" -o "${_obj}" -MD -MF "${_dep}" -std=c++${CMAKE_CXX_STANDARD} ${_opt}
      -Xcompiler=-fPIC -Xcompiler=-fno-gnu-unique ${_xcomp} --expt-relaxed-constexpr --expt-extended-lambda
      ${_defs} ${_incs} ${_arch} ${device_flags})
    # Architectures compiled in parallel inside nvcc (kernel-builder sizes
    # KB_NVCC_THREADS to the cores the build leaves free).
    if(KB_NVCC_THREADS GREATER 1)
      list(APPEND _cmd --threads ${KB_NVCC_THREADS})
    endif()
    if(KB_NVCC_CCBIN)
      list(APPEND _cmd -ccbin "${KB_NVCC_CCBIN}")
    endif()
    set_property(GLOBAL PROPERTY KB_USES_CUDA ON)
  elseif(kind STREQUAL "rocm")
    if(NOT KB_HIPCC)
      message(FATAL_ERROR "kernel-builder: ROCm sources need KB_HIPCC (path to hipcc)")
    endif()
    # The defaults of torch.utils.cpp_extension for HIP.
    list(APPEND _defs -DROCM_KERNEL -DUSE_ROCM=1 -D__HIP_PLATFORM_AMD__=1 -DCUDA_HAS_FP16=1
      -D__HIP_NO_HALF_OPERATORS__=1 -D__HIP_NO_HALF_CONVERSIONS__=1)
    set(_arch)
    foreach(_a IN LISTS targets)
      list(APPEND _arch "--offload-arch=${_a}")
    endforeach()
    set(_compile "${src}")
    if(src MATCHES "\\.cu$")
      # A CUDA source reused for ROCm: torch's hipify translates it (and the
      # headers it includes) into the build tree first.
      kb_hipify(_compile "${src}" "${files}" "${includes}")
      list(APPEND _deps "${_compile}")
      set(_hip_incs)
      foreach(_d IN LISTS includes)
        file(RELATIVE_PATH _rel "${KB_ROOT}" "${_d}")
        list(APPEND _hip_incs "-I${_KB_HIPIFY_DIR}/${_rel}")
      endforeach()
      set(_incs ${_hip_incs} ${_incs})
    endif()
    set(_cmd "${KB_HIPCC}" -x hip -c "${_compile}" -o "${_obj}" -MD -MF "${_dep}" -std=c++${CMAKE_CXX_STANDARD} ${_opt} -fPIC
      ${cxx_flags} ${_defs} ${_incs} ${_arch} ${device_flags})
    set_property(GLOBAL PROPERTY KB_USES_HIP ON)
  elseif(kind STREQUAL "xpu")
    if(NOT KB_SYCL_CXX)
      message(FATAL_ERROR "kernel-builder: SYCL sources need KB_SYCL_CXX (path to icpx)")
    endif()
    list(APPEND _defs -DXPU_KERNEL -DUSE_XPU)
    set(_cmd "${KB_SYCL_CXX}" -c "${src}" -o "${_obj}" -MD -MF "${_dep}" -std=c++${CMAKE_CXX_STANDARD} ${_opt} -fPIC
      ${KB_SYCL_COMPILE_FLAGS} ${cxx_flags} ${_defs} ${_incs} ${device_flags})
    set_property(GLOBAL PROPERTY KB_USES_SYCL ON)
  else()
    message(FATAL_ERROR "kernel-builder: no device rule for ${kind}")
  endif()
  set(_glibc_dep)
  kb_glibc_compat_device(${kind} _cmd _glibc_dep)
  add_custom_command(OUTPUT "${_obj}" COMMAND ${_cmd} DEPENDS ${_deps} ${_glibc_dep} DEPFILE "${_dep}"
    COMMENT "Compiling ${kind} object ${_name}" VERBATIM COMMAND_EXPAND_LISTS)
  set_property(GLOBAL APPEND PROPERTY KB_DEVICE_OBJECTS "${_obj}")
endfunction()

# Hipify the CUDA source `src` with torch.utils.hipify (cmake/hipify.py):
# the kernel's files (`files`, and the files of its include directories) are
# copied under the build tree and translated there; `out` is set to a wrapper
# that includes the translated source, so its relative includes keep working.
function(kb_hipify out src files includes)
  string(MAKE_C_IDENTIFIER "${src}" _id)
  set(_dir "${CMAKE_CURRENT_BINARY_DIR}/kb-hipify/${_id}")
  set(_wrapper "${_dir}.hip")
  set(_inputs)
  foreach(_f IN LISTS files)
    list(APPEND _inputs "${_f}")
  endforeach()
  foreach(_d IN LISTS includes)
    file(GLOB_RECURSE _hdrs LIST_DIRECTORIES false "${_d}/*.h" "${_d}/*.hh" "${_d}/*.hpp" "${_d}/*.cuh" "${_d}/*.inc")
    list(APPEND _inputs ${_hdrs})
  endforeach()
  list(REMOVE_DUPLICATES _inputs)
  add_custom_command(OUTPUT "${_wrapper}"
    COMMAND "${Python3_EXECUTABLE}" "${KB_CMAKE_DIR}/hipify.py" --root "${KB_ROOT}" --out "${_dir}"
      --wrapper "${_wrapper}" --source "${src}" ${_inputs}
    DEPENDS "${KB_CMAKE_DIR}/hipify.py" ${_inputs}
    COMMENT "Hipifying ${src}" VERBATIM)
  set(${out} "${_wrapper}" PARENT_SCOPE)
  set(_KB_HIPIFY_DIR "${_dir}" PARENT_SCOPE)
endfunction()

# Metal: .metal -> .air -> .metallib -> C header embedded in the extension.
function(kb_metal_library target src)
  get_filename_component(_base "${src}" NAME_WE)
  set(_dir "${CMAKE_CURRENT_BINARY_DIR}/kb-metal")
  set(_air "${_dir}/${_base}.air")
  set(_lib "${_dir}/${_base}.metallib")
  set(_hdr "${_dir}/${_base}_metallib.h")
  add_custom_command(OUTPUT "${_air}" COMMAND xcrun -sdk macosx metal -std=metal4.0 -O2 -c "${src}" -o "${_air}"
    DEPENDS "${src}" VERBATIM)
  add_custom_command(OUTPUT "${_lib}" COMMAND xcrun -sdk macosx metallib "${_air}" -o "${_lib}" DEPENDS "${_air}" VERBATIM)
  string(MAKE_C_IDENTIFIER "${_base}_metallib" _ns)
  add_custom_command(OUTPUT "${_hdr}"
    COMMAND "${CMAKE_COMMAND}" -DINPUT=${_lib} -DOUTPUT=${_hdr} -DNAMESPACE=${_ns} -P "${KB_CMAKE_DIR}/embed-binary.cmake"
    DEPENDS "${_lib}" VERBATIM)
  target_sources(${target} PRIVATE "${_hdr}")
  target_include_directories(${target} PRIVATE "${_dir}")
  # Sources include EMBEDDED_METALLIB_HEADER and call
  # EMBEDDED_METALLIB_NAMESPACE::createLibrary(device, &error).
  target_compile_definitions(${target} PRIVATE "EMBEDDED_METALLIB_HEADER=\"${_base}_metallib.h\"" EMBEDDED_METALLIB_NAMESPACE=${_ns})
  target_link_libraries(${target} PRIVATE "-framework Metal" "-framework Foundation")
endfunction()

# One source of a kernel. `includes` are absolute include directories (the
# kernel's and its dependencies'), `defines` its dependencies' definitions,
# `files` all files of the kernel (what hipify may translate).
function(kb_add_kernel_source target backend src includes cxx_flags device_flags targets defines files)
  if(src MATCHES "\\.(h|hh|hpp|hxx|cuh|inc)$")
    return()
  endif()
  if(backend STREQUAL "cuda" AND src MATCHES "\\.cu$")
    kb_device_object(${target} cuda "${src}" "${includes}" "${cxx_flags}" "${device_flags}" "${targets}" "${defines}" "${files}")
  elseif(backend STREQUAL "rocm" AND src MATCHES "\\.(cu|hip)$")
    kb_device_object(${target} rocm "${src}" "${includes}" "${cxx_flags}" "${device_flags}" "${targets}" "${defines}" "${files}")
  elseif(backend STREQUAL "xpu" AND src MATCHES "\\.(cpp|cc|cxx|sycl)$")
    kb_device_object(${target} xpu "${src}" "${includes}" "${cxx_flags}" "${device_flags}" "${targets}" "${defines}" "${files}")
  elseif(backend STREQUAL "metal" AND src MATCHES "\\.metal$")
    kb_metal_library(${target} "${src}")
  else()
    target_sources(${target} PRIVATE "${src}")
    set_property(SOURCE "${src}" TARGET_DIRECTORY ${target} APPEND PROPERTY INCLUDE_DIRECTORIES ${includes})
    set_property(SOURCE "${src}" TARGET_DIRECTORY ${target} APPEND PROPERTY COMPILE_OPTIONS ${cxx_flags})
    set_property(SOURCE "${src}" TARGET_DIRECTORY ${target} APPEND PROPERTY COMPILE_DEFINITIONS ${defines})
  endif()
endfunction()

# A dependency from `depends` (data/depends.toml): the build toolchain passes
# its root as `var`; `subdirs` are its include directories below that root.
# Sets `<var>_INCLUDE_DIRS`.
function(kb_dependency name var subdirs how)
  if(NOT ${var} AND DEFINED ENV{${var}})
    set(${var} "$ENV{${var}}")
  endif()
  if(NOT ${var} OR NOT IS_DIRECTORY "${${var}}")
    message(FATAL_ERROR "kernel-builder: this kernel depends on `${name}`, but ${var} is not set to its directory (${var}=\"${${var}}\"). ${how}")
  endif()
  set(_dirs)
  foreach(_s IN LISTS subdirs)
    if(NOT IS_DIRECTORY "${${var}}/${_s}")
      message(FATAL_ERROR "kernel-builder: ${var}=${${var}} has no ${_s}/ directory; is it a ${name} source tree? ${how}")
    endif()
    list(APPEND _dirs "${${var}}/${_s}")
  endforeach()
  set(${var}_INCLUDE_DIRS "${_dirs}" PARENT_SCOPE)
endfunction()

# Shared libraries `names` (e.g. cublas) found as lib<name>.so* in `dirs`;
# wheels ship only versioned names such as libcublas.so.13.
function(kb_find_shared out dirs names)
  set(_found)
  foreach(_n IN LISTS names)
    set(_hit)
    foreach(_d IN LISTS dirs)
      file(GLOB _c LIST_DIRECTORIES false "${_d}/lib${_n}${CMAKE_SHARED_LIBRARY_SUFFIX}" "${_d}/lib${_n}${CMAKE_SHARED_LIBRARY_SUFFIX}.*")
      if(_c)
        list(SORT _c)
        list(GET _c 0 _hit)
        break()
      endif()
    endforeach()
    if(_hit)
      list(APPEND _found "${_hit}")
    else()
      message(STATUS "kernel-builder: lib${_n} not found in ${dirs}; not linked")
    endif()
  endforeach()
  set(${out} "${_found}" PARENT_SCOPE)
endfunction()

function(kb_finalize_extension target)
  _kb_pch_force_includes(${target})
  # Device objects are built by their own target and reach only the link
  # step (as link options, so they come before the libraries, and as
  # LINK_DEPENDS): as sources of the module they would make every host
  # compile wait for them.
  # The link waits for them through a stamp: one step more on their path
  # makes ninja's critical-path scheduling (1.12+) start the device compiles,
  # the long pole, before the host ones (older ninja: no change).
  get_property(_objs GLOBAL PROPERTY KB_DEVICE_OBJECTS)
  if(_objs)
    set(_stamp "${CMAKE_CURRENT_BINARY_DIR}/kb-objects/device-objects.stamp")
    add_custom_command(OUTPUT "${_stamp}" COMMAND "${CMAKE_COMMAND}" -E touch "${_stamp}"
      DEPENDS ${_objs} VERBATIM)
    add_custom_target(kb_device_objects ALL DEPENDS "${_stamp}")
    target_link_options(${target} PRIVATE ${_objs})
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS "${_stamp}")
  endif()
  # The module is linked as kb_module<suffix> (no ops name in CMake, see
  # CMakeLists.txt) and copied to <ops name><suffix> after each link.
  set(_rename "${CMAKE_COMMAND}" "-DOPS_NAME_H=${KB_CMAKE_DIR}/ops_name.h" "-DMODULE=$<TARGET_FILE:${target}>")
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${_rename} -P "${KB_CMAKE_DIR}/module-name.cmake" VERBATIM)
  install(CODE "execute_process(COMMAND \"${CMAKE_COMMAND}\" \"-DOPS_NAME_H=${KB_CMAKE_DIR}/ops_name.h\" \"-DMODULE=$<TARGET_FILE:${target}>\" \"-DDEST=\${CMAKE_INSTALL_PREFIX}\" -P \"${KB_CMAKE_DIR}/module-name.cmake\" COMMAND_ERROR_IS_FATAL ANY)")
  get_property(_cuda GLOBAL PROPERTY KB_USES_CUDA)
  if(_cuda OR KB_BACKEND STREQUAL "cuda")
    if(KB_CUDA_INCLUDE_DIRS)
      target_include_directories(${target} SYSTEM PRIVATE ${KB_CUDA_INCLUDE_DIRS})
    endif()
    target_compile_definitions(${target} PRIVATE CUDA_KERNEL USE_CUDA=1)
    # libtorch_cuda also for stable-ABI builds: it holds the CUDA part of the
    # C shim (aoti_torch_get_current_cuda_stream, ...).
    if(KB_FRAMEWORK STREQUAL "torch")
      target_link_libraries(${target} PRIVATE "${KB_TORCH_LIB_DIR}/libc10_cuda${CMAKE_SHARED_LIBRARY_SUFFIX}"
        "${KB_TORCH_LIB_DIR}/libtorch_cuda${CMAKE_SHARED_LIBRARY_SUFFIX}")
    endif()
    if(KB_CUDART)
      target_link_libraries(${target} PRIVATE "${KB_CUDART}")
    endif()
    # The math libraries Torch's CMake config gives extensions; only those a
    # kernel calls end up as DT_NEEDED.
    kb_find_shared(_math "${KB_CUDA_LIBRARY_DIRS}" "${KB_CUDA_MATH_LIBS}")
    if(_math)
      target_link_libraries(${target} PRIVATE "-Wl,--push-state,--as-needed" ${_math} "-Wl,--pop-state")
    endif()
  endif()
  get_property(_hip GLOBAL PROPERTY KB_USES_HIP)
  if(_hip OR KB_BACKEND STREQUAL "rocm")
    target_compile_definitions(${target} PRIVATE ROCM_KERNEL USE_ROCM __HIP_PLATFORM_AMD__)
    if(KB_FRAMEWORK STREQUAL "torch")
      target_link_libraries(${target} PRIVATE "${KB_TORCH_LIB_DIR}/libc10_hip${CMAKE_SHARED_LIBRARY_SUFFIX}"
        "${KB_TORCH_LIB_DIR}/libtorch_hip${CMAKE_SHARED_LIBRARY_SUFFIX}")
    endif()
    if(KB_HIP_RUNTIME)
      target_link_libraries(${target} PRIVATE "${KB_HIP_RUNTIME}")
    endif()
    if(KB_HIP_INCLUDE_DIRS)
      target_include_directories(${target} SYSTEM PRIVATE ${KB_HIP_INCLUDE_DIRS})
    endif()
    kb_find_shared(_math "${KB_HIP_LIBRARY_DIRS}" "${KB_HIP_MATH_LIBS}")
    if(_math)
      target_link_libraries(${target} PRIVATE "-Wl,--push-state,--as-needed" ${_math} "-Wl,--pop-state")
    endif()
  endif()
  get_property(_sycl GLOBAL PROPERTY KB_USES_SYCL)
  if(_sycl OR KB_BACKEND STREQUAL "xpu")
    if(KB_FRAMEWORK STREQUAL "torch")
      target_link_libraries(${target} PRIVATE "${KB_TORCH_LIB_DIR}/libc10_xpu${CMAKE_SHARED_LIBRARY_SUFFIX}"
        "${KB_TORCH_LIB_DIR}/libtorch_xpu${CMAKE_SHARED_LIBRARY_SUFFIX}")
    endif()
    # Ahead-of-time device images (see KB_SYCL_TARGETS) plus SPIR-V for JIT.
    target_link_options(${target} PRIVATE -fsycl ${KB_SYCL_LINK_FLAGS})
  endif()
endfunction()

# --- glibc compatibility (local backend) -----------------------------------
# KB_GLIBC_COMPAT_DIR holds kb_glibc_compat.h, force-included into every host
# compile (and into nvcc's host compiles), and kb_glibc_compat.c, compiled
# into the module. kernel-builder generates both from the host's glibc and the
# manylinux target (README, "glibc compatibility"). Unset: nothing changes.
function(kb_glibc_compat target)
  if(NOT KB_GLIBC_COMPAT_DIR)
    return()
  endif()
  set(_h "${KB_GLIBC_COMPAT_DIR}/kb_glibc_compat.h")
  _kb_pch_enabled(_pch)
  if(NOT _pch)
    # Joined `-include<file>`: CMake de-duplicates separate option words.
    # (With a precompiled header it is set per source at the end.)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:C,CXX>:-include${_h}>)
  endif()
  # Compiled as C++: the project enables C only for kernels with C sources.
  set_source_files_properties("${KB_GLIBC_COMPAT_DIR}/kb_glibc_compat.c" PROPERTIES LANGUAGE CXX)
  target_sources(${target} PRIVATE "${KB_GLIBC_COMPAT_DIR}/kb_glibc_compat.c")
endfunction()

# nvcc: the header goes to its host compiler; appends to the caller's command
# and dependency lists.
function(kb_glibc_compat_device kind cmd_var dep_var)
  if(KB_GLIBC_COMPAT_DIR AND kind STREQUAL "cuda")
    set(_h "${KB_GLIBC_COMPAT_DIR}/kb_glibc_compat.h")
    set(${cmd_var} ${${cmd_var}} "-Xcompiler=-include${_h}" PARENT_SCOPE)
    set(${dep_var} "${_h}" PARENT_SCOPE)
  endif()
endfunction()
# --- end glibc compatibility -------------------------------------------------
