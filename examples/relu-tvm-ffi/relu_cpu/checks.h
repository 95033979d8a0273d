#pragma once

#include <tvm/ffi/tvm_ffi.h>

namespace relu_tvm_ffi {

// Argument checks shared by the CPU and CUDA functions: float32, same
// shape, contiguous.
inline void check_args(tvm::ffi::TensorView out, tvm::ffi::TensorView input,
                       DLDeviceType device) {
  TVM_FFI_CHECK(input.device().device_type == device, ValueError)
      << "relu: input is on the wrong device type";
  TVM_FFI_CHECK(out.device().device_type == input.device().device_type &&
                    out.device().device_id == input.device().device_id,
                ValueError)
      << "relu: out and input must be on the same device";
  DLDataType const f32{kDLFloat, 32, 1};
  TVM_FFI_CHECK(input.dtype() == f32 && out.dtype() == f32, TypeError)
      << "relu: float32 only";
  TVM_FFI_CHECK(input.ndim() == out.ndim(), ValueError)
      << "relu: out and input must have the same shape";
  for (int32_t i = 0; i < input.ndim(); ++i) {
    TVM_FFI_CHECK(input.size(i) == out.size(i), ValueError)
        << "relu: out and input must have the same shape";
  }
  TVM_FFI_CHECK(input.IsContiguous() && out.IsContiguous(), ValueError)
      << "relu: tensors must be contiguous";
}

// First element, honouring the DLPack byte offset.
template <typename T> T *first(tvm::ffi::TensorView t) {
  return reinterpret_cast<T *>(static_cast<char *>(t.data_ptr()) +
                               t.byte_offset());
}

} // namespace relu_tvm_ffi
