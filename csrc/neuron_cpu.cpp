// The fused neuron ops: schemas (torch's operator registry) and the CPU kernels.
//
// Every op works on a contiguous [T, ...] tensor seen as [T, N]: T time steps of N = numel / T
// independent neurons (the outputs keep the input's shape, so callers reshape nothing). The CPU
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

// Inner loops are branch-free so that they vectorise: an absent input is read from a block of
// zeros, an output nobody asked for is written to a scratch block. Each inner loop runs over
// independent neurons (no dependence between lanes), which `omp simd` states to the compiler.
template <typename T>
struct Block {
  T data[kBlock];
  explicit Block(T fill) {
    for (int64_t i = 0; i < kBlock; ++i) data[i] = fill;
  }
};

template <typename T>
const T* in_or(const T* p, int64_t offset, const Block<T>& zeros) {
  return p ? p + offset : zeros.data;
}
template <typename T>
T* out_or(T* p, int64_t offset, Block<T>& sink) {
  return p ? p + offset : sink.data;
}

template <typename T, int64_t F>
void fwd_kernel(const T* x, T* s, T* v, T* h, int64_t steps, int64_t n, const double* params) {
  for_neuron_blocks(n, [&](int64_t b0, int64_t m) {
    const Neuron<T, F> nr(params);
    Block<T> state(nr.v_init());
    for (int64_t t = 0; t < steps; ++t) {
      const int64_t o = t * n + b0;
      const T* __restrict__ xt = x + o;
      T* __restrict__ st = s + o;
      T* __restrict__ vt = v + o;
      T* __restrict__ ht = h + o;
      T* __restrict__ state_p = state.data;
#pragma omp simd
      for (int64_t i = 0; i < m; ++i) {
        const T hi = nr.charge(xt[i], state_p[i]);
        const T si = nr.spike(hi);
        const T vi = nr.reset(hi, si);
        ht[i] = hi;
        st[i] = si;
        vt[i] = vi;
        state_p[i] = vi;
      }
    }
  });
}

template <typename T, int64_t F>
void bwd_kernel(const T* gs, const T* gv, const T* ghx, const T* h, T* gh, int64_t steps,
                int64_t n, const double* params) {
  for_neuron_blocks(n, [&](int64_t b0, int64_t m) {
    const Neuron<T, F> nr(params);
    const Block<T> zeros(T(0));
    Block<T> next(T(0));
    for (int64_t t = steps - 1; t >= 0; --t) {
      const int64_t o = t * n + b0;
      const T* __restrict__ gst = in_or(gs, o, zeros);
      const T* __restrict__ gvt = in_or(gv, o, zeros);
      const T* __restrict__ ghxt = in_or(ghx, o, zeros);
      const T* __restrict__ ht = h + o;
      T* __restrict__ out = gh + o;
      T* __restrict__ next_p = next.data;
#pragma omp simd
      for (int64_t i = 0; i < m; ++i) {
        const T sgv = nr.sg(ht[i]);
        const T d = nr.dv_dh(ht[i], nr.spike(ht[i]), sgv);
        const T g = gst[i] * sgv + (gvt[i] + nr.k * next_p[i]) * d + ghxt[i];
        out[i] = g;
        next_p[i] = g;
      }
    }
  });
}

template <typename T, int64_t F>
void bwd2_kernel(const T* cot, const T* gs, const T* gv, const T* h, const T* gh, T* a_out,
                 T* cot_gs, T* cot_gv, T* cot_h, int64_t steps, int64_t n,
                 const double* params) {
  for_neuron_blocks(n, [&](int64_t b0, int64_t m) {
    const Neuron<T, F> nr(params);
    const Block<T> zeros(T(0));
    // one scratch block per output: restrict pointers must not share one
    Block<T> sink_a(T(0)), sink_gs(T(0)), sink_gv(T(0)), sink_h(T(0));
    Block<T> carry(T(0));  // k * D_{t-1} * a_{t-1}
    for (int64_t t = 0; t < steps; ++t) {
      const int64_t o = t * n + b0;
      const T* __restrict__ cott = cot + o;
      const T* __restrict__ gst = in_or(gs, o, zeros);
      const T* __restrict__ gvt = in_or(gv, o, zeros);
      const T* __restrict__ ht = h + o;
      const T* __restrict__ gnext = t + 1 < steps ? gh + o + n : zeros.data;
      T* __restrict__ at = out_or(a_out, o, sink_a);
      T* __restrict__ cgst = out_or(cot_gs, o, sink_gs);
      T* __restrict__ cgvt = out_or(cot_gv, o, sink_gv);
      T* __restrict__ cht = out_or(cot_h, o, sink_h);
      T* __restrict__ carry_p = carry.data;
#pragma omp simd
      for (int64_t i = 0; i < m; ++i) {
        const T hi = ht[i];
        const T sgv = nr.sg(hi);
        const T sg2v = nr.sg2(hi);
        const T d = nr.dv_dh(hi, nr.spike(hi), sgv);
        const T dd = nr.d2v_dh2(hi, sgv, sg2v);
        const T a = cott[i] + carry_p[i];
        at[i] = a;
        cgst[i] = a * sgv;
        cgvt[i] = a * d;
        cht[i] = a * (gst[i] * sg2v + (gvt[i] + nr.k * gnext[i]) * dd);
        carry_p[i] = nr.k * d * a;
      }
    }
  });
}

}  // namespace

void count_call(int device, int op) { g_calls[3 * device + op].fetch_add(1); }

void check_inputs(const char* op, std::initializer_list<const at::Tensor*> ts,
                  at::ArrayRef<double> params) {
  TORCH_CHECK(params.size() == 4, op, ": params must be (tau, v_threshold, v_reset, alpha)");
  const at::Tensor& first = **ts.begin();
  TORCH_CHECK(first.dim() >= 1, op, ": expected [T, ...] tensors with a time axis, got ",
              first.sizes());
  TORCH_CHECK(first.scalar_type() == at::kFloat || first.scalar_type() == at::kDouble, op,
              ": expected float32 or float64, got ", first.scalar_type());
  for (const at::Tensor* t : ts) {
    if (t == nullptr || !t->defined()) continue;
    TORCH_CHECK(t->sizes() == first.sizes(), op, ": shape mismatch ", t->sizes(), " vs ",
                first.sizes());
    TORCH_CHECK(t->scalar_type() == first.scalar_type(), op, ": dtype mismatch");
    TORCH_CHECK(t->device() == first.device(), op, ": device mismatch");
  }
}

at::Tensor contiguous_or_undefined(const std::optional<at::Tensor>& t) {
  return t.has_value() && t->defined() ? t->contiguous() : at::Tensor();
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> neuron_fwd_cpu(const at::Tensor& x_in,
                                                              at::ArrayRef<double> params,
                                                              int64_t flags) {
  check_inputs("neuron_fwd", {&x_in}, params);
  const at::Tensor x = x_in.contiguous();
  at::Tensor s = at::empty_like(x), v = at::empty_like(x), h = at::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "neuron_fwd_cpu", [&] {
    with_flags(flags, [&](auto f) {
      fwd_kernel<scalar_t, decltype(f)::value>(
          x.const_data_ptr<scalar_t>(), s.mutable_data_ptr<scalar_t>(),
          v.mutable_data_ptr<scalar_t>(), h.mutable_data_ptr<scalar_t>(), x.size(0), neurons(x),
          params.data());
    });
  });
  count_call(0, 0);
  return {s, v, h};
}

at::Tensor neuron_bwd_cpu(const std::optional<at::Tensor>& grad_spikes,
                          const std::optional<at::Tensor>& grad_v,
                          const std::optional<at::Tensor>& grad_h, const at::Tensor& h_in,
                          at::ArrayRef<double> params, int64_t flags) {
  const at::Tensor gs = contiguous_or_undefined(grad_spikes), gv = contiguous_or_undefined(grad_v),
                   ghx = contiguous_or_undefined(grad_h), h = h_in.contiguous();
  check_inputs("neuron_bwd", {&h, &gs, &gv, &ghx}, params);
  at::Tensor gh = at::empty_like(h);
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "neuron_bwd_cpu", [&] {
    with_flags(flags, [&](auto f) {
      bwd_kernel<scalar_t, decltype(f)::value>(
          ptr_or_null<scalar_t>(gs), ptr_or_null<scalar_t>(gv), ptr_or_null<scalar_t>(ghx),
          h.const_data_ptr<scalar_t>(), gh.mutable_data_ptr<scalar_t>(), h.size(0), neurons(h),
          params.data());
    });
  });
  count_call(0, 1);
  return gh;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> neuron_bwd2_cpu(
    const at::Tensor& cot_gh, const std::optional<at::Tensor>& grad_spikes,
    const std::optional<at::Tensor>& grad_v, const at::Tensor& h_in, const at::Tensor& gh_in,
    at::ArrayRef<double> params, int64_t flags, std::array<bool, 4> output_mask) {
  const at::Tensor cot = cot_gh.contiguous(), gs = contiguous_or_undefined(grad_spikes),
                   gv = contiguous_or_undefined(grad_v), h = h_in.contiguous(),
                   gh = gh_in.contiguous();
  check_inputs("neuron_bwd2", {&h, &cot, &gs, &gv, &gh}, params);
  auto [a, cgs, cgv, ch] = masked_outputs(h, output_mask);
  AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "neuron_bwd2_cpu", [&] {
    with_flags(flags, [&](auto f) {
      bwd2_kernel<scalar_t, decltype(f)::value>(
          cot.const_data_ptr<scalar_t>(), ptr_or_null<scalar_t>(gs), ptr_or_null<scalar_t>(gv),
          h.const_data_ptr<scalar_t>(), gh.const_data_ptr<scalar_t>(),
          out_ptr_or_null<scalar_t>(a), out_ptr_or_null<scalar_t>(cgs),
          out_ptr_or_null<scalar_t>(cgv), out_ptr_or_null<scalar_t>(ch), h.size(0), neurons(h),
          params.data());
    });
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
  // absent cotangents (None) count as zeros; neuron_bwd2 computes only the outputs whose
  // output_mask entry is true (the others are empty tensors)
  m.def(
      "neuron_bwd(Tensor? grad_spikes, Tensor? grad_v, Tensor? grad_h, Tensor h, float[] params, "
      "int flags) -> Tensor");
  m.def(
      "neuron_bwd2(Tensor cot_gh, Tensor? grad_spikes, Tensor? grad_v, Tensor h, Tensor gh, "
      "float[] params, int flags, bool[4] output_mask) -> (Tensor, Tensor, Tensor, Tensor)");
  m.def("kernel_calls() -> int[]", &kernel_calls);
}

TORCH_LIBRARY_IMPL(snnleak, CPU, m) {
  m.impl("neuron_fwd", &neuron_fwd_cpu);
  m.impl("neuron_bwd", &neuron_bwd_cpu);
  m.impl("neuron_bwd2", &neuron_bwd2_cpu);
}

}  // namespace snnleak
