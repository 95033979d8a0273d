# Helpers for kernel-builder generated projects. Generated; do not edit.
#
# Device code (CUDA, HIP, SYCL, Metal) is compiled with explicit rules that
# call the compiler named in KB_NVCC / KB_HIPCC / KB_SYCL_CXX / xcrun, with
# depfiles for incremental builds. This keeps toolkit discovery out of CMake.

# Torch: headers, libraries and ABI flag from the Python package.
set(KB_CMAKE_DIR "${CMAKE_CURRENT_LIST_DIR}")

# Call after find_package(Python3 ... Development.SABIModule) at top level.
function(kb_find_torch)
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

function(kb_add_binding_source target src)
  target_sources(${target} PRIVATE "${src}")
  if(src MATCHES "\\.(c|cc|cpp|cxx|mm)$")
    set_property(SOURCE "${src}" TARGET_DIRECTORY ${target} APPEND PROPERTY COMPILE_DEFINITIONS TORCH_EXTENSION_NAME=${KB_OPS_NAME})
  endif()
endfunction()

# Compile one device source with an explicit rule (compiler, depfile, object).
function(kb_device_object target kind src includes cxx_flags device_flags targets)
  get_filename_component(_name "${src}" NAME)
  string(MAKE_C_IDENTIFIER "${src}" _id)
  set(_obj "${CMAKE_CURRENT_BINARY_DIR}/kb-objects/${_id}.o")
  set(_dep "${_obj}.d")
  set(_incs)
  foreach(_d IN LISTS KB_TORCH_INCLUDE_DIRS includes)
    list(APPEND _incs "-I${_d}")
  endforeach()
  get_target_property(_tincs ${target} INCLUDE_DIRECTORIES)
  if(_tincs)
    foreach(_d IN LISTS _tincs)
      list(APPEND _incs "-I${_d}")
    endforeach()
  endif()
  list(APPEND _incs "-I${Python3_INCLUDE_DIRS}")
  set(_defs "-D_GLIBCXX_USE_CXX11_ABI=${KB_TORCH_CXX11_ABI}" "-DPy_LIMITED_API=0x03090000")
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
    # The defaults of torch.utils.cpp_extension: c10::Half/BFloat16 bring
    # their own operators, CUDA's would make them ambiguous.
    list(APPEND _defs -DCUDA_KERNEL -D__CUDA_NO_HALF_OPERATORS__ -D__CUDA_NO_HALF_CONVERSIONS__
      -D__CUDA_NO_BFLOAT16_CONVERSIONS__ -D__CUDA_NO_HALF2_OPERATORS__)
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
    set(_cmd "${KB_HIPCC}" -x hip -c "${src}" -o "${_obj}" -MD -MF "${_dep}" -std=c++${CMAKE_CXX_STANDARD} ${_opt} -fPIC
      ${cxx_flags} ${_defs} ${_incs} ${_arch} ${device_flags})
    set_property(GLOBAL PROPERTY KB_USES_HIP ON)
  elseif(kind STREQUAL "xpu")
    if(NOT KB_SYCL_CXX)
      message(FATAL_ERROR "kernel-builder: SYCL sources need KB_SYCL_CXX (path to icpx)")
    endif()
    list(APPEND _defs -DXPU_KERNEL)
    set(_cmd "${KB_SYCL_CXX}" -fsycl -c "${src}" -o "${_obj}" -MD -MF "${_dep}" -std=c++${CMAKE_CXX_STANDARD} ${_opt} -fPIC
      ${cxx_flags} ${_defs} ${_incs} ${device_flags})
    set_property(GLOBAL PROPERTY KB_USES_SYCL ON)
  else()
    message(FATAL_ERROR "kernel-builder: no device rule for ${kind}")
  endif()
  set(_glibc_dep)
  kb_glibc_compat_device(${kind} _cmd _glibc_dep)
  add_custom_command(OUTPUT "${_obj}" COMMAND ${_cmd} DEPENDS "${src}" ${_glibc_dep} DEPFILE "${_dep}"
    COMMENT "Compiling ${kind} object ${_name}" VERBATIM COMMAND_EXPAND_LISTS)
  set_property(GLOBAL APPEND PROPERTY KB_DEVICE_OBJECTS "${_obj}")
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

function(kb_add_kernel_source target backend src includes cxx_flags device_flags targets)
  if(src MATCHES "\\.(h|hh|hpp|hxx|cuh|inc)$")
    return()
  endif()
  if(backend STREQUAL "cuda" AND src MATCHES "\\.cu$")
    kb_device_object(${target} cuda "${src}" "${includes}" "${cxx_flags}" "${device_flags}" "${targets}")
  elseif(backend STREQUAL "rocm" AND src MATCHES "\\.(cu|hip)$")
    kb_device_object(${target} rocm "${src}" "${includes}" "${cxx_flags}" "${device_flags}" "${targets}")
  elseif(backend STREQUAL "xpu" AND src MATCHES "\\.(cpp|cc|cxx|sycl)$")
    kb_device_object(${target} xpu "${src}" "${includes}" "${cxx_flags}" "${device_flags}" "${targets}")
  elseif(backend STREQUAL "metal" AND src MATCHES "\\.metal$")
    kb_metal_library(${target} "${src}")
  else()
    target_sources(${target} PRIVATE "${src}")
    set_property(SOURCE "${src}" TARGET_DIRECTORY ${target} APPEND PROPERTY INCLUDE_DIRECTORIES ${includes})
    set_property(SOURCE "${src}" TARGET_DIRECTORY ${target} APPEND PROPERTY COMPILE_OPTIONS ${cxx_flags})
  endif()
endfunction()

function(kb_finalize_extension target)
  get_property(_objs GLOBAL PROPERTY KB_DEVICE_OBJECTS)
  if(_objs)
    target_sources(${target} PRIVATE ${_objs})
    set_source_files_properties(${_objs} PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
  endif()
  get_property(_cuda GLOBAL PROPERTY KB_USES_CUDA)
  if(_cuda OR KB_BACKEND STREQUAL "cuda")
    if(KB_CUDA_INCLUDE_DIRS)
      target_include_directories(${target} SYSTEM PRIVATE ${KB_CUDA_INCLUDE_DIRS})
    endif()
    target_compile_definitions(${target} PRIVATE CUDA_KERNEL)
    target_link_libraries(${target} PRIVATE "${KB_TORCH_LIB_DIR}/libc10_cuda${CMAKE_SHARED_LIBRARY_SUFFIX}")
    # Stable-ABI builds too: the CUDA shim functions (aoti_torch_get_current_cuda_stream, ...)
    # live in libtorch_cuda, which torch loads privately.
    target_link_libraries(${target} PRIVATE "${KB_TORCH_LIB_DIR}/libtorch_cuda${CMAKE_SHARED_LIBRARY_SUFFIX}")
    if(KB_CUDART)
      target_link_libraries(${target} PRIVATE "${KB_CUDART}")
    endif()
  endif()
  get_property(_hip GLOBAL PROPERTY KB_USES_HIP)
  if(_hip OR KB_BACKEND STREQUAL "rocm")
    target_compile_definitions(${target} PRIVATE ROCM_KERNEL USE_ROCM __HIP_PLATFORM_AMD__)
    target_link_libraries(${target} PRIVATE "${KB_TORCH_LIB_DIR}/libc10_hip${CMAKE_SHARED_LIBRARY_SUFFIX}")
    if(NOT KB_STABLE_ABI)
      target_link_libraries(${target} PRIVATE "${KB_TORCH_LIB_DIR}/libtorch_hip${CMAKE_SHARED_LIBRARY_SUFFIX}")
    endif()
    if(KB_HIP_RUNTIME)
      target_link_libraries(${target} PRIVATE "${KB_HIP_RUNTIME}")
    endif()
  endif()
  get_property(_sycl GLOBAL PROPERTY KB_USES_SYCL)
  if(_sycl OR KB_BACKEND STREQUAL "xpu")
    target_link_libraries(${target} PRIVATE "${KB_TORCH_LIB_DIR}/libc10_xpu${CMAKE_SHARED_LIBRARY_SUFFIX}")
    if(NOT KB_STABLE_ABI)
      target_link_libraries(${target} PRIVATE "${KB_TORCH_LIB_DIR}/libtorch_xpu${CMAKE_SHARED_LIBRARY_SUFFIX}")
    endif()
    target_link_options(${target} PRIVATE -fsycl)
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
  # Joined `-include<file>`: CMake de-duplicates separate option words.
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:C,CXX>:-include${_h}>)
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
