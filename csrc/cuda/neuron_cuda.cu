// CUDA kernels of the fused neuron ops: one thread per neuron, looping over T.
//
// Tensors are [T, ...] contiguous, seen as [T, N], so at every step the threads of a warp read and write
// consecutive addresses along N (coalesced). The per-element math is Neuron<T> from neuron.h,
// shared with the CPU kernels.
#include "../neuron.h"

#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

namespace snnleak {
namespace {

constexpr int kThreads = 256;

inline int blocks_for(int64_t n) { return static_cast<int>((n + kThreads - 1) / kThreads); }

// Absent inputs are null pointers (zeros); outputs nobody asked for are null and not written.
// The branches on them are uniform across a warp.
template <typename T, int64_t F>
__global__ void fwd_cuda_kernel(const T* __restrict__ x, T* __restrict__ s, T* __restrict__ v,
                                T* __restrict__ h, int64_t steps, int64_t n, Neuron<T, F> nr) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  T state = nr.v_init();
  for (int64_t t = 0; t < steps; ++t) {
    const int64_t o = t * n + i;
    const T ht = nr.charge(x[o], state);
    const T st = nr.spike(ht);
    state = nr.reset(ht, st);
    h[o] = ht;
    s[o] = st;
    v[o] = state;
  }
}

template <typename T, int64_t F>
__global__ void bwd_cuda_kernel(const T* __restrict__ gs, const T* __restrict__ gv,
                                const T* __restrict__ ghx, const T* __restrict__ h,
                                T* __restrict__ gh, int64_t steps, int64_t n, Neuron<T, F> nr) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  T next = T(0);
  for (int64_t t = steps - 1; t >= 0; --t) {
    const int64_t o = t * n + i;
    const T ht = h[o];
    const T sgv = nr.sg(ht);
    const T d = nr.dv_dh(ht, nr.spike(ht), sgv);
    next = (gs ? gs[o] * sgv : T(0)) + ((gv ? gv[o] : T(0)) + nr.k * next) * d +
           (ghx ? ghx[o] : T(0));
    gh[o] = next;
  }
}

template <typename T, int64_t F>
__global__ void bwd2_cuda_kernel(const T* __restrict__ cot, const T* __restrict__ gs,
                                 const T* __restrict__ gv, const T* __restrict__ h,
                                 const T* __restrict__ gh, T* __restrict__ a_out,
                                 T* __restrict__ cot_gs, T* __restrict__ cot_gv,
                                 T* __restrict__ cot_h, int64_t steps, int64_t n,
                                 Neuron<T, F> nr) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  T carry = T(0);  // k * D_{t-1} * a_{t-1}
  for (int64_t t = 0; t < steps; ++t) {
    const int64_t o = t * n + i;
    const T ht = h[o];
    const T sgv = nr.sg(ht);
    const T sg2v = nr.sg2(ht);
    const T d = nr.dv_dh(ht, nr.spike(ht), sgv);
    const T dd = nr.d2v_dh2(ht, sgv, sg2v);
    const T a = cot[o] + carry;
    const T g_next = t + 1 == steps ? T(0) : gh[o + n];
    if (a_out) a_out[o] = a;
    if (cot_gs) cot_gs[o] = a * sgv;
    if (cot_gv) cot_gv[o] = a * d;
    if (cot_h)
      cot_h[o] = a * ((gs ? gs[o] * sg2v : T(0)) + ((gv ? gv[o] : T(0)) + nr.k * g_next) * dd);
    carry = nr.k * d * a;
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> neuron_fwd_cuda(const at::Tensor& x_in,
                                                               at::ArrayRef<double> params,
                                                               int64_t flags) {
  check_inputs("neuron_fwd", {&x_in}, params);
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor x = x_in.contiguous();
  at::Tensor s = at::empty_like(x), v = at::empty_like(x), h = at::empty_like(x);
  const int64_t n = neurons(x);
  if (x.numel() > 0) {
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "neuron_fwd_cuda", [&] {
      with_flags(flags, [&](auto f) {
        constexpr int64_t F = decltype(f)::value;
        fwd_cuda_kernel<scalar_t, F>
            <<<blocks_for(n), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
                x.const_data_ptr<scalar_t>(), s.mutable_data_ptr<scalar_t>(),
                v.mutable_data_ptr<scalar_t>(), h.mutable_data_ptr<scalar_t>(), x.size(0), n,
                Neuron<scalar_t, F>(params.data()));
      });
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  count_call(1, 0);
  return {s, v, h};
}

at::Tensor neuron_bwd_cuda(const std::optional<at::Tensor>& grad_spikes,
                           const std::optional<at::Tensor>& grad_v,
                           const std::optional<at::Tensor>& grad_h, const at::Tensor& h_in,
                           at::ArrayRef<double> params, int64_t flags) {
  const at::Tensor gs = contiguous_or_undefined(grad_spikes), gv = contiguous_or_undefined(grad_v),
                   ghx = contiguous_or_undefined(grad_h), h = h_in.contiguous();
  check_inputs("neuron_bwd", {&h, &gs, &gv, &ghx}, params);
  const c10::cuda::CUDAGuard guard(h.device());
  at::Tensor gh = at::empty_like(h);
  const int64_t n = neurons(h);
  if (h.numel() > 0) {
    AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "neuron_bwd_cuda", [&] {
      with_flags(flags, [&](auto f) {
        constexpr int64_t F = decltype(f)::value;
        bwd_cuda_kernel<scalar_t, F>
            <<<blocks_for(n), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
                ptr_or_null<scalar_t>(gs), ptr_or_null<scalar_t>(gv),
                ptr_or_null<scalar_t>(ghx), h.const_data_ptr<scalar_t>(),
                gh.mutable_data_ptr<scalar_t>(), h.size(0), n,
                Neuron<scalar_t, F>(params.data()));
      });
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  count_call(1, 1);
  return gh;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> neuron_bwd2_cuda(
    const at::Tensor& cot_gh, const std::optional<at::Tensor>& grad_spikes,
    const std::optional<at::Tensor>& grad_v, const at::Tensor& h_in, const at::Tensor& gh_in,
    at::ArrayRef<double> params, int64_t flags, std::array<bool, 4> output_mask) {
  const at::Tensor cot = cot_gh.contiguous(), gs = contiguous_or_undefined(grad_spikes),
                   gv = contiguous_or_undefined(grad_v), h = h_in.contiguous(),
                   gh = gh_in.contiguous();
  check_inputs("neuron_bwd2", {&h, &cot, &gs, &gv, &gh}, params);
  const c10::cuda::CUDAGuard guard(h.device());
  auto [a, cgs, cgv, ch] = masked_outputs(h, output_mask);
  const int64_t n = neurons(h);
  if (h.numel() > 0) {
    AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "neuron_bwd2_cuda", [&] {
      with_flags(flags, [&](auto f) {
        constexpr int64_t F = decltype(f)::value;
        bwd2_cuda_kernel<scalar_t, F>
            <<<blocks_for(n), kThreads, 0, c10::cuda::getCurrentCUDAStream()>>>(
                cot.const_data_ptr<scalar_t>(), ptr_or_null<scalar_t>(gs),
                ptr_or_null<scalar_t>(gv), h.const_data_ptr<scalar_t>(),
                gh.const_data_ptr<scalar_t>(), out_ptr_or_null<scalar_t>(a),
                out_ptr_or_null<scalar_t>(cgs), out_ptr_or_null<scalar_t>(cgv),
                out_ptr_or_null<scalar_t>(ch), h.size(0), n,
                Neuron<scalar_t, F>(params.data()));
      });
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  count_call(1, 2);
  return {a, cgs, cgv, ch};
}

}  // namespace

TORCH_LIBRARY_IMPL(snnleak, CUDA, m) {
  m.impl("neuron_fwd", &neuron_fwd_cuda);
  m.impl("neuron_bwd", &neuron_bwd_cuda);
  m.impl("neuron_bwd2", &neuron_bwd2_cuda);
}

}  // namespace snnleak
