// The fused neuron ops: schemas (torch's operator registry) and the CPU kernels.
//
// Every op works on a contiguous [T, N] view: T time steps of N independent neurons. The CPU
// kernels are parallel over neurons (at::parallel_for); inside a thread, a block of neurons is
// carried through time with its state in a small local array, so the inner loop runs over
// contiguous memory along N and the compiler can vectorise it.
#include "neuron.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <atomic>

namespace snnleak {
namespace {

constexpr int64_t kBlock = 256;

std::array<std::atomic<int64_t>, 6> g_calls{};

template <typename Body>
void for_neuron_blocks(int64_t n, const Body& body) {
  at::parallel_for(0, n, kBlock, [&](int64_t begin, int64_t end) {
    for (int64_t b0 = begin; b0 < end; b0 += kBlock) body(b0, std::min(end, b0 + kBlock) - b0);
  });
}

template <typename T>
void fwd_kernel(const T* __restrict__ x, T* __restrict__ s, T* __restrict__ v,
                T* __restrict__ h, int64_t steps, int64_t n, const Neuron<T>& neuron) {
  for_neuron_blocks(n, [&](int64_t b0, int64_t m) {
    const Neuron<T> nr = neuron;  // a local copy: no aliasing with the outputs
    T state[kBlock];
    for (int64_t i = 0; i < m; ++i) state[i] = nr.v_init();
    for (int64_t t = 0; t < steps; ++t) {
      const int64_t o = t * n + b0;
      for (int64_t i = 0; i < m; ++i) {
        const T ht = nr.charge(x[o + i], state[i]);
        const T st = nr.spike(ht);
        const T vt = nr.reset(ht, st);
        h[o + i] = ht;
        s[o + i] = st;
        v[o + i] = vt;
        state[i] = vt;
      }
    }
  });
}

template <typename T>
void bwd_kernel(const T* __restrict__ gs, const T* __restrict__ gv, const T* __restrict__ ghx,
                const T* __restrict__ h, T* __restrict__ gh, int64_t steps, int64_t n,
                const Neuron<T>& neuron) {
  for_neuron_blocks(n, [&](int64_t b0, int64_t m) {
    const Neuron<T> nr = neuron;
    T next[kBlock];
    for (int64_t i = 0; i < m; ++i) next[i] = T(0);
    for (int64_t t = steps - 1; t >= 0; --t) {
      const int64_t o = t * n + b0;
      for (int64_t i = 0; i < m; ++i) {
        const T ht = h[o + i];
        const T sgv = nr.sg(ht);
        const T d = nr.dv_dh(ht, nr.spike(ht), sgv);
        const T g = gs[o + i] * sgv + (gv[o + i] + nr.k * next[i]) * d + ghx[o + i];
        gh[o + i] = g;
        next[i] = g;
      }
    }
  });
}

template <typename T>
void bwd2_kernel(const T* __restrict__ cot, const T* __restrict__ gs, const T* __restrict__ gv,
                 const T* __restrict__ h, const T* __restrict__ gh, T* __restrict__ a_out,
                 T* __restrict__ cot_gs, T* __restrict__ cot_gv, T* __restrict__ cot_h,
                 int64_t steps, int64_t n, const Neuron<T>& neuron) {
  for_neuron_blocks(n, [&](int64_t b0, int64_t m) {
    const Neuron<T> nr = neuron;
    T carry[kBlock];  // k * D_{t-1} * a_{t-1}
    for (int64_t i = 0; i < m; ++i) carry[i] = T(0);
    for (int64_t t = 0; t < steps; ++t) {
      const int64_t o = t * n + b0;
      const bool last = t + 1 == steps;
      for (int64_t i = 0; i < m; ++i) {
        const T ht = h[o + i];
        const T sgv = nr.sg(ht);
        const T d = nr.dv_dh(ht, nr.spike(ht), sgv);
        const T sg2v = nr.sg2(ht);
        const T dd = nr.d2v_dh2(ht, sgv, sg2v);
        const T a = cot[o + i] + carry[i];
        const T g_next = last ? T(0) : gh[o + n + i];
        a_out[o + i] = a;
        cot_gs[o + i] = a * sgv;
        cot_gv[o + i] = a * d;
        cot_h[o + i] = a * (gs[o + i] * sg2v + (gv[o + i] + nr.k * g_next) * dd);
        carry[i] = nr.k * d * a;
      }
    }
  });
}

void check_inputs(const char* op, std::initializer_list<const at::Tensor*> ts,
                  at::ArrayRef<double> params) {
  TORCH_CHECK(params.size() == 4, op, ": params must be (tau, v_threshold, v_reset, alpha)");
  const at::Tensor& first = **ts.begin();
  TORCH_CHECK(first.dim() == 2, op, ": expected [T, N] tensors, got ", first.sizes());
  TORCH_CHECK(first.scalar_type() == at::kFloat || first.scalar_type() == at::kDouble, op,
              ": expected float32 or float64, got ", first.scalar_type());
  for (const at::Tensor* t : ts) {
    TORCH_CHECK(t->sizes() == first.sizes(), op, ": shape mismatch ", t->sizes(), " vs ",
                first.sizes());
    TORCH_CHECK(t->scalar_type() == first.scalar_type(), op, ": dtype mismatch");
    TORCH_CHECK(t->device() == first.device(), op, ": device mismatch");
  }
}

}  // namespace

void count_call(int device, int op) { g_calls[3 * device + op].fetch_add(1); }

std::tuple<at::Tensor, at::Tensor, at::Tensor> neuron_fwd_cpu(const at::Tensor& x_in,
                                                              at::ArrayRef<double> params,
                                                              int64_t flags) {
  check_inputs("neuron_fwd", {&x_in}, params);
  const at::Tensor x = x_in.contiguous();
  at::Tensor s = at::empty_like(x), v = at::empty_like(x), h = at::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "neuron_fwd_cpu", [&] {
    fwd_kernel<scalar_t>(x.const_data_ptr<scalar_t>(), s.mutable_data_ptr<scalar_t>(),
                         v.mutable_data_ptr<scalar_t>(), h.mutable_data_ptr<scalar_t>(),
                         x.size(0), x.size(1), Neuron<scalar_t>(params.data(), flags));
  });
  count_call(0, 0);
  return {s, v, h};
}

at::Tensor neuron_bwd_cpu(const at::Tensor& grad_spikes, const at::Tensor& grad_v,
                          const at::Tensor& grad_h, const at::Tensor& h_in,
                          at::ArrayRef<double> params, int64_t flags) {
  check_inputs("neuron_bwd", {&h_in, &grad_spikes, &grad_v, &grad_h}, params);
  const at::Tensor gs = grad_spikes.contiguous(), gv = grad_v.contiguous(),
                   ghx = grad_h.contiguous(), h = h_in.contiguous();
  at::Tensor gh = at::empty_like(h);
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "neuron_bwd_cpu", [&] {
    bwd_kernel<scalar_t>(gs.const_data_ptr<scalar_t>(), gv.const_data_ptr<scalar_t>(),
                         ghx.const_data_ptr<scalar_t>(), h.const_data_ptr<scalar_t>(),
                         gh.mutable_data_ptr<scalar_t>(), h.size(0), h.size(1),
                         Neuron<scalar_t>(params.data(), flags));
  });
  count_call(0, 1);
  return gh;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> neuron_bwd2_cpu(
    const at::Tensor& cot_gh, const at::Tensor& grad_spikes, const at::Tensor& grad_v,
    const at::Tensor& h_in, const at::Tensor& gh_in, at::ArrayRef<double> params,
    int64_t flags) {
  check_inputs("neuron_bwd2", {&h_in, &cot_gh, &grad_spikes, &grad_v, &gh_in}, params);
  const at::Tensor cot = cot_gh.contiguous(), gs = grad_spikes.contiguous(),
                   gv = grad_v.contiguous(), h = h_in.contiguous(), gh = gh_in.contiguous();
  at::Tensor a = at::empty_like(h), cgs = at::empty_like(h), cgv = at::empty_like(h),
             ch = at::empty_like(h);
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "neuron_bwd2_cpu", [&] {
    bwd2_kernel<scalar_t>(cot.const_data_ptr<scalar_t>(), gs.const_data_ptr<scalar_t>(),
                          gv.const_data_ptr<scalar_t>(), h.const_data_ptr<scalar_t>(),
                          gh.const_data_ptr<scalar_t>(), a.mutable_data_ptr<scalar_t>(),
                          cgs.mutable_data_ptr<scalar_t>(), cgv.mutable_data_ptr<scalar_t>(),
                          ch.mutable_data_ptr<scalar_t>(), h.size(0), h.size(1),
                          Neuron<scalar_t>(params.data(), flags));
  });
  count_call(0, 2);
  return {a, cgs, cgv, ch};
}

std::vector<int64_t> kernel_calls() {
  std::vector<int64_t> out;
  for (const auto& c : g_calls) out.push_back(c.load());
  return out;
}

TORCH_LIBRARY(snnleak, m) {
  m.def("neuron_fwd(Tensor x, float[] params, int flags) -> (Tensor, Tensor, Tensor)");
  m.def(
      "neuron_bwd(Tensor grad_spikes, Tensor grad_v, Tensor grad_h, Tensor h, float[] params, "
      "int flags) -> Tensor");
  m.def(
      "neuron_bwd2(Tensor cot_gh, Tensor grad_spikes, Tensor grad_v, Tensor h, Tensor gh, "
      "float[] params, int flags) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def("kernel_calls() -> int[]", &kernel_calls);
}

TORCH_LIBRARY_IMPL(snnleak, CPU, m) {
  m.impl("neuron_fwd", &neuron_fwd_cpu);
  m.impl("neuron_bwd", &neuron_bwd_cpu);
  m.impl("neuron_bwd2", &neuron_bwd2_cpu);
}

}  // namespace snnleak
