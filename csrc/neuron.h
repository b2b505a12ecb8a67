// Multi-step IF/LIF neuron with the ATan surrogate: the per-element math shared by the CPU and
// CUDA kernels, and the declarations of the three scans.
//
// The equations are those of snnleak/neurons/reference.py (SpikingJelly semantics); the three
// scans are derived in the project's kernel-math design note:
//   forward  (t = 0..T-1):  H_t = charge(X_t, V_{t-1}); S_t = spike(H_t); V_t = reset(H_t, S_t)
//   backward (t = T-1..0):  gH_t = gS_t s'_t + (gV_t + k gH_{t+1}) D_t + gHext_t
//   double backward (t = 0..T-1), given a cotangent c_t on gH_t:
//       a_t = c_t + k D_{t-1} a_{t-1}
//       on gS_t: a_t s'_t;  on gV_t: a_t D_t;  on gHext_t: a_t;
//       on H_t:  a_t (gS_t s''_t + (gV_t + k gH_{t+1}) dD_t/dH_t)
// The charge and reset use the reference's exact operation order, so that float32 and float64
// results round exactly as the reference does and no spike flips at the threshold.
#pragma once

#include <cmath>
#include <cstdint>
#include <array>
#include <optional>

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty_like.h>
#include <c10/util/Exception.h>

#include <type_traits>

#if defined(__CUDACC__)
#define SNNLEAK_HD __host__ __device__ __forceinline__
#else
#define SNNLEAK_HD inline
#endif

namespace snnleak {
// atan in the precision of its argument (the C atan(double) would round float32 differently)
template <typename T>
SNNLEAK_HD T atan_t(T x) {
#if defined(__CUDA_ARCH__)
  return atan(x);
#else
  return std::atan(x);
#endif
}
}  // namespace snnleak

namespace snnleak {

// bit flags of the `flags` argument of every op
enum Flag : int64_t {
  kLif = 1,         // LIF (else IF)
  kHardReset = 2,   // reset to v_reset (else subtract the threshold)
  kDecayInput = 4,  // LIF: divide the input by tau
  kDetachReset = 8, // no gradient through the spike inside the reset
  kSmooth = 16,     // smooth ATan primitive instead of the Heaviside
  // snnTorch's Leaky (reset_delay=True, the reset detached): params[0] is beta; the leak is
  // beta * mem; the spike fires on > (not >=); a subtractive reset takes the threshold off after
  // the leak, with the spike of the previous step: H_t = (beta H_{t-1} + X_t) - theta S_{t-1}
  // (V = H carries it); reset="zero" is the hard reset to 0 before the leak:
  // H_t = beta ((1 - S_{t-1}) H_{t-1}) + X_t. Both in snnTorch's own operation order. With
  // kSmooth, S is the ATan primitive in the reset too (snnTorch fires its reset through spike_grad).
  kSnnTorch = 32,
};

// The neuron with its configuration F (a combination of Flag bits) fixed at compile time, so
// the per-element code has no branches on the configuration and the CPU loops vectorise.
template <typename T, int64_t F>
struct Neuron {
  static constexpr bool lif = F & kLif, hard = F & kHardReset, decay = F & kDecayInput,
                        detach = F & kDetachReset, smooth = F & kSmooth,
                        snntorch = F & kSnnTorch;
  T tau, theta, v_reset, alpha_half, kappa, v_charge, k;

  // params = (tau, v_threshold, v_reset, alpha); v_reset is ignored for a soft reset
  explicit Neuron(const double* params)
      : tau(static_cast<T>(params[0])),
        theta(static_cast<T>(params[1])),
        v_reset(static_cast<T>(params[2])),
        alpha_half(static_cast<T>(params[3] / 2)),
        kappa(static_cast<T>(M_PI / 2 * params[3])),
        v_charge(hard ? static_cast<T>(params[2]) : T(0)),
        k(snntorch ? static_cast<T>(params[0])
                   : lif ? static_cast<T>(1.0 - 1.0 / params[0]) : T(1)) {}

  SNNLEAK_HD T v_init() const { return hard ? v_reset : T(0); }

  SNNLEAK_HD T charge(T x, T v) const {
    if constexpr (snntorch && hard) return k * v + x;
    else if constexpr (snntorch) return (k * v + x) - theta * spike(v);
    else if constexpr (!lif) return v + x;
    else if constexpr (decay) return v + (x - (v - v_charge)) / tau;
    else return v - (v - v_charge) / tau + x;
  }

  SNNLEAK_HD T spike(T h) const {
    const T u = h - theta;
    if constexpr (smooth) return atan_t(kappa * u) / static_cast<T>(M_PI) + T(0.5);
    else if constexpr (snntorch) return static_cast<T>(u > T(0));
    else return static_cast<T>(u >= T(0));  // a compare, not a branch: vectorises
  }

  SNNLEAK_HD T reset(T h, T s) const {
    if constexpr (hard) return s * v_reset + (T(1) - s) * h;
    else if constexpr (snntorch) return h;  // the next charge subtracts theta * S
    else return h - theta * s;
  }

  // sigma'(h - theta) and sigma''(h - theta)
  SNNLEAK_HD T sg(T h) const {
    const T kx = kappa * (h - theta);
    return alpha_half / (T(1) + kx * kx);
  }
  SNNLEAK_HD T sg2(T h) const {
    const T u = h - theta;
    const T kx = kappa * u;
    const T d = T(1) + kx * kx;
    return -(T(2) * alpha_half) * kappa * kappa * u / (d * d);
  }

  // D = dV/dH and its derivative dD/dH
  SNNLEAK_HD T dv_dh(T h, T s, T sgv) const {
    if constexpr (hard) return detach ? T(1) - s : (T(1) - s) + (v_reset - h) * sgv;
    else return detach ? T(1) : T(1) - theta * sgv;
  }
  SNNLEAK_HD T d2v_dh2(T h, T sgv, T sg2v) const {
    if constexpr (detach) return T(0);
    else if constexpr (hard) return T(-2) * sgv + (v_reset - h) * sg2v;
    else return -theta * sg2v;
  }
};

constexpr int64_t kAllFlags =
    kLif | kHardReset | kDecayInput | kDetachReset | kSmooth | kSnnTorch;

// decay_input only matters for LIF, and snnTorch's mode has its own leak: one canonical flag
// set per configuration
inline int64_t canonical_flags(int64_t flags) {
  if (flags & kSnnTorch) return flags & (kSnnTorch | kHardReset | kDetachReset | kSmooth);
  return (flags & kLif) ? (flags & kAllFlags) : (flags & kAllFlags & ~kDecayInput);
}

// snnTorch detaches its reset: its flag sets without kDetachReset are invalid
constexpr bool valid_flags(int64_t f) {
  if (f & kSnnTorch) return (f & kDetachReset) && !(f & (kLif | kDecayInput));
  return !(!(f & kLif) && (f & kDecayInput));
}

// Calls fn(std::integral_constant<int64_t, F>{}) with F == canonical_flags(flags).
template <int64_t F = 0, typename Fn>
void with_flags(int64_t flags, Fn&& fn) {
  if constexpr (F > kAllFlags) {
    TORCH_CHECK(false, "snnleak: invalid neuron flags ", flags);
  } else if constexpr (!valid_flags(F)) {
    with_flags<F + 1>(flags, fn);  // not canonical: never instantiated
  } else {
    if (canonical_flags(flags) == F) fn(std::integral_constant<int64_t, F>{});
    else with_flags<F + 1>(flags, fn);
  }
}

// The three scans on contiguous [T, ...] tensors seen as [T, N] (CPU implementations; CUDA ones are registered
// for the same ops in cuda/neuron_cuda.cu).
std::tuple<at::Tensor, at::Tensor, at::Tensor> neuron_fwd_cpu(const at::Tensor& x,
                                                              at::ArrayRef<double> params,
                                                              int64_t flags);
// Absent (nullopt) cotangents count as zeros; bwd2 computes only the outputs in output_mask
// (a, cot_grad_spikes, cot_grad_v, cot_h) and returns empty tensors for the others.
at::Tensor neuron_bwd_cpu(const std::optional<at::Tensor>& grad_spikes,
                          const std::optional<at::Tensor>& grad_v,
                          const std::optional<at::Tensor>& grad_h, const at::Tensor& h,
                          at::ArrayRef<double> params, int64_t flags);
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> neuron_bwd2_cpu(
    const at::Tensor& cot_gh, const std::optional<at::Tensor>& grad_spikes,
    const std::optional<at::Tensor>& grad_v, const at::Tensor& h, const at::Tensor& gh,
    at::ArrayRef<double> params, int64_t flags, std::array<bool, 4> output_mask);

// Input checks shared by the CPU and CUDA ops: [T, ...] tensors of one shape, dtype (float32 or
// float64) and device; null entries and undefined tensors are absent optional inputs.
void check_inputs(const char* op, std::initializer_list<const at::Tensor*> ts,
                  at::ArrayRef<double> params);

// An optional input made contiguous (undefined when absent), and raw pointers that are null for
// absent inputs and for outputs left out of an output mask (empty tensors).
at::Tensor contiguous_or_undefined(const std::optional<at::Tensor>& t);
template <typename T>
const T* ptr_or_null(const at::Tensor& t) {
  return t.defined() ? t.const_data_ptr<T>() : nullptr;
}
template <typename T>
T* out_ptr_or_null(at::Tensor& t) {
  return t.numel() > 0 ? t.mutable_data_ptr<T>() : nullptr;
}

// neuron_bwd2's outputs: like h where output_mask asks for them, empty (not computed) elsewhere.
inline std::array<at::Tensor, 4> masked_outputs(const at::Tensor& h,
                                                const std::array<bool, 4>& output_mask) {
  std::array<at::Tensor, 4> out;
  for (int i = 0; i < 4; ++i) out[i] = output_mask[i] ? at::empty_like(h) : h.new_empty({0});
  return out;
}

// N of the [T, N] view of a [T, ...] tensor: the neurons at one time step.
inline int64_t neurons(const at::Tensor& t) {
  return t.size(0) > 0 ? t.numel() / t.size(0) : 0;
}

// Sentinel: how many times each kernel ran, per device, since the library was loaded.
// Index = 3 * device (0 CPU, 1 CUDA) + op (0 forward, 1 backward, 2 double backward).
void count_call(int device, int op);

}  // namespace snnleak
