// Native test: the CPU kernels of csrc/ against naive per-neuron loops written straight from
// the equations (independently of Neuron<T>), for every configuration, float32 and float64,
// with a ragged number of neurons that spans several blocks and threads.
#include "neuron.h"

#include <ATen/ATen.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

using snnleak::Flag;

namespace {

struct Cfg {
  double tau, theta, vr, alpha;  // snnTorch's mode: tau holds beta
  bool lif, hard, decay, detach, smooth, snntorch = false;
  int64_t flags() const {
    return (lif ? Flag::kLif : 0) | (hard ? Flag::kHardReset : 0) |
           (decay ? Flag::kDecayInput : 0) | (detach ? Flag::kDetachReset : 0) |
           (smooth ? Flag::kSmooth : 0) | (snntorch ? Flag::kSnnTorch : 0);
  }
  std::vector<double> params() const { return {tau, theta, vr, alpha}; }
};

// The math below runs in the scalar type R of the kernel under test, with the constants rounded
// to R as the kernels do, so that float32 charges round the same way and no spike flips.
template <typename R>
struct Math {
  const Cfg& c;
  R theta = R(c.theta), vr = R(c.vr), tau = R(c.tau), kappa = R(M_PI / 2 * c.alpha),
    half_alpha = R(c.alpha / 2), k = c.snntorch ? R(c.tau) : c.lif ? R(1 - 1 / c.tau) : R(1);
  R sg(R h) const {
    const R kx = kappa * (h - theta);
    return half_alpha / (R(1) + kx * kx);
  }
  R sg2(R h) const {
    const R x = h - theta, d = R(1) + kappa * x * kappa * x;
    return -R(2) * half_alpha * kappa * kappa * x / (d * d);
  }
  R spike(R h) const {
    if (c.smooth) return std::atan(kappa * (h - theta)) / R(M_PI) + R(0.5);
    if (c.snntorch) return h - theta > R(0) ? R(1) : R(0);  // snnTorch fires on >
    return h - theta >= R(0) ? R(1) : R(0);
  }
  R dvdh(R h) const {
    const R s = spike(h);
    if (c.hard) return c.detach ? R(1) - s : R(1) - s + (vr - h) * sg(h);
    return c.detach ? R(1) : R(1) - theta * sg(h);
  }
  R d2vdh2(R h) const {
    if (c.detach) return R(0);
    return c.hard ? R(-2) * sg(h) + (vr - h) * sg2(h) : -theta * sg2(h);
  }
};

// naive per-neuron loops: (s, v, h), gh, (a, cgs, cgv, ch)
struct Naive {
  std::vector<double> s, v, h, gh, a, cgs, cgv, ch;
};

template <typename R>
Naive naive(const Cfg& c, const std::vector<double>& x, const std::vector<double>& gs,
            const std::vector<double>& gv, const std::vector<double>& ghx,
            const std::vector<double>& cot, int64_t T, int64_t N) {
  const Math<R> m{c};
  Naive r;
  for (auto* vec : {&r.s, &r.v, &r.h, &r.gh, &r.a, &r.cgs, &r.cgv, &r.ch}) vec->assign(T * N, 0);
  const R k = m.k, vrc = c.hard ? m.vr : R(0);
  for (int64_t n = 0; n < N; ++n) {
    R v = vrc;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t o = t * N + n;
      const R xo = R(x[o]);
      R h;
      if (c.snntorch) h = c.hard ? k * v + xo : (k * v + xo) - m.theta * m.spike(v);
      else if (!c.lif) h = v + xo;
      else if (c.decay) h = v + (xo - (v - vrc)) / m.tau;
      else h = v - (v - vrc) / m.tau + xo;
      const R s = m.spike(h);
      v = c.hard ? s * m.vr + (R(1) - s) * h : c.snntorch ? h : h - m.theta * s;
      r.s[o] = s, r.v[o] = v, r.h[o] = h;
    }
    R next = 0;
    for (int64_t t = T - 1; t >= 0; --t) {
      const int64_t o = t * N + n;
      const R h = R(r.h[o]);
      next = R(gs[o]) * m.sg(h) + (R(gv[o]) + k * next) * m.dvdh(h) + R(ghx[o]);
      r.gh[o] = next;
    }
    R a_prev = 0, d_prev = 0;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t o = t * N + n;
      const R h = R(r.h[o]), a = R(cot[o]) + k * d_prev * a_prev;
      const R g_next = t + 1 < T ? R(r.gh[o + N]) : R(0);
      r.a[o] = a;
      r.cgs[o] = a * m.sg(h);
      r.cgv[o] = a * m.dvdh(h);
      r.ch[o] = a * (R(gs[o]) * m.sg2(h) + (R(gv[o]) + k * g_next) * m.d2vdh2(h));
      a_prev = a, d_prev = m.dvdh(h);
    }
  }
  return r;
}

int failures = 0, checks = 0;

void expect_close(const std::string& what, const at::Tensor& got, const std::vector<double>& want,
                  double tol) {
  ++checks;
  const at::Tensor g = got.to(at::kDouble).contiguous();
  const double* p = g.const_data_ptr<double>();
  double worst = 0, scale = 1;
  for (size_t i = 0; i < want.size(); ++i) scale = std::max(scale, std::abs(want[i]));
  for (size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::abs(p[i] - want[i]));
  if (!(worst <= tol * scale)) {
    ++failures;
    std::printf("FAIL %s: max abs error %.3g (tolerance %.3g)\n", what.c_str(), worst, tol * scale);
  }
}

std::vector<double> to_vec(const at::Tensor& t) {
  const at::Tensor d = t.to(at::kDouble).contiguous();
  return std::vector<double>(d.const_data_ptr<double>(), d.const_data_ptr<double>() + d.numel());
}

}  // namespace

constexpr std::array<bool, 4> kAll{true, true, true, true};

int main() {
  const int64_t T = 23, N = 1000 + 37;  // several blocks of 256 and a ragged one
  at::manual_seed(0);
  for (at::ScalarType dtype : {at::kDouble, at::kFloat}) {
    const double tol = dtype == at::kDouble ? 1e-10 : 1e-5;
    for (int st = 0; st < 2; ++st)
    for (int kind = 0; kind < 2; ++kind)
      for (int reset = 0; reset < 3; ++reset)
        for (int detach = 0; detach < 2; ++detach)
          for (int decay = 0; decay < 2; ++decay)
            for (int smooth = 0; smooth < 2; ++smooth) {
              if (!kind && !decay) continue;  // decay_input only matters for LIF
              // snnTorch's mode: beta 0.8, reset to 0 or subtract, always detached
              if (st && (kind || !decay || !detach || reset == 1)) continue;
              const Cfg c{st ? 0.8 : 3.0, 0.9, reset == 1 ? -0.5 : 0.0, 2.0, kind == 1 && !st,
                          reset != 2, decay == 1 && !st, detach == 1, smooth == 1, st == 1};
              const double drive = (c.lif && c.decay) ? c.tau : 1.0;
              const auto opts = at::TensorOptions().dtype(dtype);
              const at::Tensor x = (at::randn({T, N}, opts) * 0.8 + 0.5) * drive;
              const at::Tensor gs = at::randn({T, N}, opts), gv = at::randn({T, N}, opts),
                               ghx = at::randn({T, N}, opts), cot = at::randn({T, N}, opts);
              const auto params = c.params();
              const auto args = std::make_tuple(to_vec(x), to_vec(gs), to_vec(gv), to_vec(ghx),
                                                to_vec(cot));
              const Naive want =
                  dtype == at::kDouble
                      ? std::apply([&](auto&... v) { return naive<double>(c, v..., T, N); }, args)
                      : std::apply([&](auto&... v) { return naive<float>(c, v..., T, N); }, args);
              const auto [s, v, h] = snnleak::neuron_fwd_cpu(x, params, c.flags());
              const at::Tensor gh = snnleak::neuron_bwd_cpu(gs, gv, ghx, h, params, c.flags());
              const auto [a, cgs, cgv, ch] =
                  snnleak::neuron_bwd2_cpu(cot, gs, gv, h, gh, params, c.flags(), kAll);
              const std::string name = std::string(dtype == at::kDouble ? "f64" : "f32") +
                                       (st ? " snntorch" : c.lif ? " lif" : " if") + " reset=" +
                                       std::to_string(reset) + " detach=" +
                                       std::to_string(detach) + " decay=" +
                                       std::to_string(decay) + " smooth=" + std::to_string(smooth);
              expect_close(name + " spikes", s, want.s, tol);
              expect_close(name + " v", v, want.v, tol);
              expect_close(name + " h", h, want.h, tol);
              expect_close(name + " gh", gh, want.gh, tol);
              expect_close(name + " a", a, want.a, tol);
              expect_close(name + " cot_gs", cgs, want.cgs, tol);
              expect_close(name + " cot_gv", cgv, want.cgv, tol);
              expect_close(name + " cot_h", ch, want.ch, tol);

              // absent cotangents are zeros; outputs left out of the mask are empty
              const at::Tensor zeros = at::zeros_like(x);
              const Naive no_gv =
                  dtype == at::kDouble
                      ? naive<double>(c, to_vec(x), to_vec(gs), to_vec(zeros), to_vec(zeros),
                                      to_vec(cot), T, N)
                      : naive<float>(c, to_vec(x), to_vec(gs), to_vec(zeros), to_vec(zeros),
                                     to_vec(cot), T, N);
              const at::Tensor gh0 =
                  snnleak::neuron_bwd_cpu(gs, std::nullopt, std::nullopt, h, params, c.flags());
              expect_close(name + " gh (absent gv, gh)", gh0, no_gv.gh, tol);
              const auto [a0, cgs0, cgv0, ch0] = snnleak::neuron_bwd2_cpu(
                  cot, gs, std::nullopt, h, gh0, params, c.flags(), {false, true, false, true});
              expect_close(name + " cot_gs (masked)", cgs0, no_gv.cgs, tol);
              expect_close(name + " cot_h (absent gv)", ch0, no_gv.ch, tol);
              ++checks;
              if (a0.numel() != 0 || cgv0.numel() != 0) {
                ++failures;
                std::printf("FAIL %s: masked-out outputs are not empty\n", name.c_str());
              }
            }
  }
  std::printf("%d passed, %d failed\n", checks - failures, failures);
  return failures == 0 ? 0 : 1;
}
