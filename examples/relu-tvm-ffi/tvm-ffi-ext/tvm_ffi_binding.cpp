#include <tvm/ffi/tvm_ffi.h>

// Each build exports the functions of its backend; `_ops.ops.<name>` calls
// them with any DLPack tensors.
#if defined(CPU_KERNEL)
void relu_cpu(tvm::ffi::TensorView out, tvm::ffi::TensorView input);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(relu_cpu, relu_cpu);
#elif defined(CUDA_KERNEL)
void relu_cuda(tvm::ffi::TensorView out, tvm::ffi::TensorView input);
TVM_FFI_DLL_EXPORT_TYPED_FUNC(relu_cuda, relu_cuda);
#endif
