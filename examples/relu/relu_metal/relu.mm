#include <ATen/core/Tensor.h>
#include <ATen/mps/MPSStream.h>

#import <Foundation/Foundation.h>
#import <Metal/Metal.h>

#include <algorithm>
#include <limits>
#include <mutex>
#include <string>
#include <unordered_map>

#include "torch_binding.h"

// The build compiles relu.metal into a metallib and embeds it in a generated
// header; EMBEDDED_METALLIB_HEADER names that header and
// EMBEDDED_METALLIB_NAMESPACE::createLibrary() loads the embedded library.
#ifdef EMBEDDED_METALLIB_HEADER
#include EMBEDDED_METALLIB_HEADER
#else
#error "EMBEDDED_METALLIB_HEADER is not defined: build this kernel with kernel-builder"
#endif

namespace {

// MPS tensors store their data in an MTLBuffer; the storage pointer is the
// buffer object itself.
id<MTLBuffer> buffer_of(at::Tensor const &t) {
  return __builtin_bit_cast(id<MTLBuffer>, t.storage().data());
}

NSUInteger byte_offset(at::Tensor const &t) {
  return static_cast<NSUInteger>(t.storage_offset() * t.element_size());
}

id<MTLLibrary> load_library(id<MTLDevice> device) {
  NSError *error = nil;
  id<MTLLibrary> library =
      EMBEDDED_METALLIB_NAMESPACE::createLibrary(device, &error);
  TORCH_CHECK(library != nil, "relu: cannot load the embedded metallib: ",
              error ? error.localizedDescription.UTF8String : "unknown error");
  return library;
}

// Pipelines are created once per function name and reused. A C++ function
// static (rather than dispatch_once) is retried if loading throws.
id<MTLComputePipelineState> pipeline_for(id<MTLDevice> device,
                                         std::string const &name) {
  static id<MTLLibrary> library = load_library(device);
  static std::mutex mutex;
  static std::unordered_map<std::string, id<MTLComputePipelineState>> cache;

  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(name);
  if (it != cache.end()) {
    return it->second;
  }
  id<MTLFunction> function =
      [library newFunctionWithName:[NSString stringWithUTF8String:name.c_str()]];
  TORCH_CHECK(function != nil, "relu: the metallib has no function ", name);
  NSError *error = nil;
  id<MTLComputePipelineState> pso =
      [device newComputePipelineStateWithFunction:function error:&error];
  TORCH_CHECK(pso != nil, "relu: cannot create the pipeline for ", name, ": ",
              error ? error.localizedDescription.UTF8String : "unknown error");
  cache.emplace(name, pso);
  return pso;
}

std::string function_name(at::ScalarType t) {
  switch (t) {
  case at::kFloat:
    return "relu_float";
  case at::kHalf:
    return "relu_half";
  case at::kBFloat16:
    return "relu_bfloat";
  default:
    TORCH_CHECK(false, "relu: unsupported dtype ", t,
                " (supported: float32, float16, bfloat16)");
  }
}

} // namespace

void relu(at::Tensor &out, at::Tensor const &input) {
  TORCH_CHECK(input.device().is_mps(), "relu: input must be an MPS tensor");
  TORCH_CHECK(out.device() == input.device(),
              "relu: out and input must be on the same device, got ",
              out.device(), " and ", input.device());
  TORCH_CHECK(out.scalar_type() == input.scalar_type(),
              "relu: out and input must have the same dtype, got ",
              out.scalar_type(), " and ", input.scalar_type());
  TORCH_CHECK(out.sizes() == input.sizes(),
              "relu: out and input must have the same shape, got ",
              out.sizes(), " and ", input.sizes());
  TORCH_CHECK(input.is_contiguous() && out.is_contiguous(),
              "relu: out and input must be contiguous");
  TORCH_CHECK(input.numel() <= std::numeric_limits<uint32_t>::max(),
              "relu: tensors with more than 2^32 - 1 elements are not "
              "supported on MPS");

  uint32_t const n = static_cast<uint32_t>(input.numel());
  if (n == 0) {
    return;
  }

  // Encode on Torch's current MPS stream: the work is ordered with other MPS
  // operations and committed by Torch (no synchronization here).
  at::mps::MPSStream *stream = at::mps::getCurrentMPSStream();
  id<MTLDevice> device = stream->device();
  id<MTLComputePipelineState> pso =
      pipeline_for(device, function_name(input.scalar_type()));
  id<MTLBuffer> in_buffer = buffer_of(input);
  id<MTLBuffer> out_buffer = buffer_of(out);
  NSUInteger const in_offset = byte_offset(input);
  NSUInteger const out_offset = byte_offset(out);

  dispatch_sync(stream->queue(), ^{
    id<MTLComputeCommandEncoder> encoder = stream->commandEncoder();
    [encoder setComputePipelineState:pso];
    [encoder setBuffer:in_buffer offset:in_offset atIndex:0];
    [encoder setBuffer:out_buffer offset:out_offset atIndex:1];
    [encoder setBytes:&n length:sizeof(n) atIndex:2];
    NSUInteger const width =
        std::min<NSUInteger>(pso.maxTotalThreadsPerThreadgroup, n);
    [encoder dispatchThreads:MTLSizeMake(n, 1, 1)
        threadsPerThreadgroup:MTLSizeMake(width, 1, 1)];
  });
}
