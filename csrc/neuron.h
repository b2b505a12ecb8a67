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

#include <ATen/core/Tensor.h>

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
};

template <typename T>
struct Neuron {
  T tau, theta, v_reset, alpha_half, kappa, v_charge, k;
  bool lif, hard, decay, detach, smooth;

  // params = (tau, v_threshold, v_reset, alpha); v_reset is ignored for a soft reset
  Neuron(const double* params, int64_t flags)
      : tau(static_cast<T>(params[0])),
        theta(static_cast<T>(params[1])),
        v_reset(static_cast<T>(params[2])),
        alpha_half(static_cast<T>(params[3] / 2)),
        kappa(static_cast<T>(M_PI / 2 * params[3])),
        v_charge((flags & kHardReset) ? static_cast<T>(params[2]) : T(0)),
        k((flags & kLif) ? static_cast<T>(1.0 - 1.0 / params[0]) : T(1)),
        lif(flags & kLif),
        hard(flags & kHardReset),
        decay(flags & kDecayInput),
        detach(flags & kDetachReset),
        smooth(flags & kSmooth) {}

  SNNLEAK_HD T v_init() const { return hard ? v_reset : T(0); }

  SNNLEAK_HD T charge(T x, T v) const {
    if (!lif) return v + x;
    if (decay) return v + (x - (v - v_charge)) / tau;
    return v - (v - v_charge) / tau + x;
  }

  SNNLEAK_HD T spike(T h) const {
    const T u = h - theta;
    if (smooth) return atan_t(kappa * u) / static_cast<T>(M_PI) + T(0.5);
    return u >= T(0) ? T(1) : T(0);
  }

  SNNLEAK_HD T reset(T h, T s) const { return hard ? s * v_reset + (T(1) - s) * h : h - theta * s; }

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
    if (hard) return detach ? T(1) - s : (T(1) - s) + (v_reset - h) * sgv;
    return detach ? T(1) : T(1) - theta * sgv;
  }
  SNNLEAK_HD T d2v_dh2(T h, T sgv, T sg2v) const {
    if (detach) return T(0);
    if (hard) return T(-2) * sgv + (v_reset - h) * sg2v;
    return -theta * sg2v;
  }
};

// The three scans on [T, N] contiguous tensors (CPU implementations; CUDA ones are registered
// for the same ops in cuda/neuron_cuda.cu).
std::tuple<at::Tensor, at::Tensor, at::Tensor> neuron_fwd_cpu(const at::Tensor& x,
                                                              at::ArrayRef<double> params,
                                                              int64_t flags);
at::Tensor neuron_bwd_cpu(const at::Tensor& grad_spikes, const at::Tensor& grad_v,
                          const at::Tensor& grad_h, const at::Tensor& h,
                          at::ArrayRef<double> params, int64_t flags);
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> neuron_bwd2_cpu(
    const at::Tensor& cot_gh, const at::Tensor& grad_spikes, const at::Tensor& grad_v,
    const at::Tensor& h, const at::Tensor& gh, at::ArrayRef<double> params, int64_t flags);

// Sentinel: how many times each kernel ran, per device, since the library was loaded.
// Index = 3 * device (0 CPU, 1 CUDA) + op (0 forward, 1 backward, 2 double backward).
void count_call(int device, int op);

}  // namespace snnleak
