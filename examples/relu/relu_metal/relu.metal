#include <metal_stdlib>

using namespace metal;

// One thread per element. The host dispatches exactly `n` threads
// (dispatchThreads), the bound check guards against a rounded-up grid.
// `x < 0 ? 0 : x` keeps NaN and -0.0 like torch.relu.
template <typename T>
kernel void relu_kernel(device const T *input [[buffer(0)]],
                        device T *output [[buffer(1)]],
                        constant uint &n [[buffer(2)]],
                        uint index [[thread_position_in_grid]]) {
  if (index >= n) {
    return;
  }
  T const x = input[index];
  output[index] = x < T(0) ? T(0) : x;
}

#define INSTANTIATE_RELU(T)                                                    \
  template [[host_name("relu_" #T)]] kernel void relu_kernel<T>(               \
      device const T *input [[buffer(0)]], device T *output [[buffer(1)]],     \
      constant uint &n [[buffer(2)]], uint index [[thread_position_in_grid]]);

INSTANTIATE_RELU(float)
INSTANTIATE_RELU(half)
INSTANTIATE_RELU(bfloat)
