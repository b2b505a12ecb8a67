// Autograd of the fused neuron ops, in C++: one chain of custom Functions, each differentiable
// to the next order, registered at the Autograd dispatch key for every device.
//
//   neuron_fwd(x) -> (S, V, H)                    backward: neuron_bwd  (FwdFn)
//   neuron_bwd(gS, gV, gH, H) -> gH_total         backward: neuron_bwd2 (BwdFn)
//   neuron_bwd2(c, gS, gV, H, gH_total, mask)     backward: a clear error (Bwd2Fn)
//
// H is a differentiable output of the forward: the second-order cotangent on the saved H flows
// back into the forward's backward as a cotangent on H (see the kernel-math note). The input
// gradient is gX = c * gH_total with c = dH/dX (1, or 1/tau for LIF with decay_input), a
// differentiable multiply. Running the chain here instead of in Python removes the
// interpreter from every backward and double backward of every layer of every attack step.
#include "neuron.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

namespace snnleak {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::Function;
using torch::autograd::variable_list;

double input_scale(int64_t flags, const std::vector<double>& params) {
  const int64_t f = canonical_flags(flags);
  return ((f & kLif) && (f & kDecayInput)) ? 1.0 / params[0] : 1.0;
}

const auto& fwd_op() {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("snnleak::neuron_fwd", "")
                             .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
                                 const at::Tensor&, at::ArrayRef<double>, int64_t)>();
  return op;
}

const auto& bwd_op() {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("snnleak::neuron_bwd", "")
          .typed<at::Tensor(const std::optional<at::Tensor>&, const std::optional<at::Tensor>&,
                            const std::optional<at::Tensor>&, const at::Tensor&,
                            at::ArrayRef<double>, int64_t)>();
  return op;
}

const auto& bwd2_op() {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("snnleak::neuron_bwd2", "")
          .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>(
              const at::Tensor&, const std::optional<at::Tensor>&,
              const std::optional<at::Tensor>&, const at::Tensor&, const at::Tensor&,
              at::ArrayRef<double>, int64_t, std::array<bool, 4>)>();
  return op;
}

// Absent cotangents travel as empty optionals: a custom Function takes an undefined tensor as
// no input at all (no edge), so the edge index of an input depends on which ones are present.
using OptTensor = std::optional<at::Tensor>;

bool present(const OptTensor& t) { return t.has_value() && t->defined(); }

void save_config(AutogradContext* ctx, const std::vector<double>& params, int64_t flags) {
  ctx->saved_data["params"] = params;
  ctx->saved_data["flags"] = flags;
  ctx->set_materialize_grads(false);  // absent cotangents stay undefined: the kernels skip them
}

struct Bwd2Fn : public Function<Bwd2Fn> {
  static variable_list forward(AutogradContext*, const at::Tensor& cot, const OptTensor& grad_s,
                               const OptTensor& grad_v, const at::Tensor& h,
                               const at::Tensor& gh, std::vector<double> params, int64_t flags,
                               std::array<bool, 4> mask) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [a, cgs, cgv, ch] = bwd2_op().call(cot, grad_s, grad_v, h, gh, params, flags, mask);
    return {a, cgs, cgv, ch};
  }

  static variable_list backward(AutogradContext*, variable_list) {
    TORCH_CHECK_NOT_IMPLEMENTED(
        false,
        "backend 'fused' has exact gradients up to second order, and a third-order gradient "
        "was requested; use backend='reference' for higher orders");
  }
};

struct BwdFn : public Function<BwdFn> {
  static at::Tensor forward(AutogradContext* ctx, const OptTensor& grad_s,
                            const OptTensor& grad_v, const OptTensor& grad_h,
                            const at::Tensor& h, std::vector<double> params, int64_t flags) {
    at::Tensor gh;
    {
      at::AutoDispatchBelowADInplaceOrView guard;
      gh = bwd_op().call(grad_s, grad_v, grad_h, h, params, flags);
    }
    ctx->save_for_backward({grad_s.value_or(at::Tensor()), grad_v.value_or(at::Tensor()), h, gh});
    ctx->saved_data["has_h"] = present(grad_h);
    save_config(ctx, params, flags);
    return gh;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor& cot = grads[0];
    variable_list out(6);
    if (!cot.defined()) return out;
    const auto saved = ctx->get_saved_variables();
    // inputs: grad_s, grad_v, grad_h (each only if present), h; bwd2's outputs: a, on gS, on gV,
    // on H
    const bool has_s = saved[0].defined(), has_v = saved[1].defined(),
               has_h = ctx->saved_data["has_h"].toBool();
    int64_t edge = 0;
    const bool need_s = has_s && ctx->needs_input_grad(edge++);
    const bool need_v = has_v && ctx->needs_input_grad(edge++);
    const bool need_hext = has_h && ctx->needs_input_grad(edge++);
    const bool need_h = ctx->needs_input_grad(edge);
    const std::array<bool, 4> mask = {need_hext, need_s, need_v, need_h};
    const auto r = Bwd2Fn::apply(cot, has_s ? OptTensor(saved[0]) : std::nullopt,
                                 has_v ? OptTensor(saved[1]) : std::nullopt, saved[2], saved[3],
                                 ctx->saved_data["params"].toDoubleVector(),
                                 ctx->saved_data["flags"].toInt(), mask);
    if (mask[1]) out[0] = r[1];
    if (mask[2]) out[1] = r[2];
    if (mask[0]) out[2] = r[0];
    if (mask[3]) out[3] = r[3];
    return out;
  }
};

struct FwdFn : public Function<FwdFn> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x,
                               std::vector<double> params, int64_t flags) {
    at::Tensor s, v, h;
    {
      at::AutoDispatchBelowADInplaceOrView guard;
      std::tie(s, v, h) = fwd_op().call(x, params, flags);
    }
    ctx->save_for_backward({h});
    save_config(ctx, params, flags);
    return {s, v, h};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    variable_list out(3);
    if (!grads[0].defined() && !grads[1].defined() && !grads[2].defined()) return out;
    const auto params = ctx->saved_data["params"].toDoubleVector();
    const int64_t flags = ctx->saved_data["flags"].toInt();
    const auto as_opt = [](const at::Tensor& g) { return g.defined() ? OptTensor(g) : std::nullopt; };
    at::Tensor gh = BwdFn::apply(as_opt(grads[0]), as_opt(grads[1]), as_opt(grads[2]),
                                 ctx->get_saved_variables()[0], params, flags);
    const double scale = input_scale(flags, params);
    out[0] = scale != 1.0 ? gh.mul(scale) : gh;
    return out;
  }
};

std::tuple<at::Tensor, at::Tensor, at::Tensor> neuron_fwd_autograd(const at::Tensor& x,
                                                                   at::ArrayRef<double> params,
                                                                   int64_t flags) {
  auto r = FwdFn::apply(x, params.vec(), flags);
  return {r[0], r[1], r[2]};
}

at::Tensor neuron_bwd_autograd(const std::optional<at::Tensor>& grad_s,
                               const std::optional<at::Tensor>& grad_v,
                               const std::optional<at::Tensor>& grad_h, const at::Tensor& h,
                               at::ArrayRef<double> params, int64_t flags) {
  return BwdFn::apply(grad_s, grad_v, grad_h, h, params.vec(), flags);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> neuron_bwd2_autograd(
    const at::Tensor& cot, const std::optional<at::Tensor>& grad_s,
    const std::optional<at::Tensor>& grad_v, const at::Tensor& h, const at::Tensor& gh,
    at::ArrayRef<double> params, int64_t flags, std::array<bool, 4> output_mask) {
  auto r = Bwd2Fn::apply(cot, grad_s, grad_v, h, gh, params.vec(), flags, output_mask);
  return {r[0], r[1], r[2], r[3]};
}

}  // namespace

TORCH_LIBRARY_IMPL(snnleak, Autograd, m) {
  m.impl("neuron_fwd", &neuron_fwd_autograd);
  m.impl("neuron_bwd", &neuron_bwd_autograd);
  m.impl("neuron_bwd2", &neuron_bwd2_autograd);
}

}  // namespace snnleak
