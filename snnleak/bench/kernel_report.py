"""The kernel benchmark's report: its markdown table and its chart of ratios against targets."""

from __future__ import annotations

from pathlib import Path


def markdown(results: dict) -> str:
    dlg, op = results["dlg_step_ms"], results["neuron_op_ms"]
    meta = results["meta"]
    lines = [
        f"{meta['device']} ({meta['device_name']}), {meta['threads']} threads, T = {meta['T']}",
        "",
        "| case | DLG step (ms): median [q1, q3] | neuron op (ms) |",
        "|---|---:|---:|",
    ]
    for name, d in dlg.items():
        o = op.get(name)
        cell = f"{o['median']:.2f} [{o['q1']:.2f}, {o['q3']:.2f}]" if o else "-"
        lines.append(f"| {name} | {d['median']:.2f} [{d['q1']:.2f}, {d['q3']:.2f}] | {cell} |")
    lines += ["", "| ratio (paired per round) | median [q1, q3] | target |", "|---|---:|---|"]
    for name, r in results["ratios"].items():
        t = results["targets"].get(name)
        goal = ""
        if t is not None:
            sign = "<=" if t["kind"] == "max" else ">="
            goal = f"{sign} {t['bound']} ({'met' if t['met'] else 'missed'})"
        lines.append(f"| {name} | {r['median']:.2f} [{r['q1']:.2f}, {r['q3']:.2f}] | {goal} |")
    bw = results.get("fused_bandwidth")
    if bw and bw["achieved_gbps"] is not None:
        calls = ", ".join(f"{k} {v}" for k, v in bw["kernel_calls_per_step"].items())
        line = (
            f"fused neuron kernels: {bw['bytes_per_step'] / 2**20:.1f} MiB moved per op step "
            f"({calls} calls) in {bw['kernel_ms_per_step']:.3f} ms: "
            f"{bw['achieved_gbps']:.1f} GB/s"
        )
        if "peak_gbps" in bw:
            line += f", {bw['fraction_of_peak']:.0%} of the card's {bw['peak_gbps']:.0f} GB/s"
        lines += ["", line]
    if "memory_mib" in results:
        mem = ", ".join(
            f"{k} {v:.1f} MiB" if v is not None else f"{k} n/a"
            for k, v in results["memory_mib"].items()
        )
        lines += ["", f"peak memory of one DLG step: {mem}"]
    return "\n".join(lines)


def chart(results: dict, path: Path) -> Path:
    """A bar chart of the ratios, each target drawn as a tick on its bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from snnleak.io import write_atomic

    names = list(results["ratios"])
    med = [results["ratios"][n]["median"] for n in names]
    lo = [m - results["ratios"][n]["q1"] for n, m in zip(names, med, strict=True)]
    hi = [results["ratios"][n]["q3"] - m for n, m in zip(names, med, strict=True)]
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(names) + 1.2))
    ax.barh(names, med, xerr=[lo, hi], color="#4c72b0", capsize=3)
    for i, n in enumerate(names):
        t = results["targets"].get(n)
        if t is not None:
            ax.plot([t["bound"]] * 2, [i - 0.4, i + 0.4], color="#c44e52", lw=2)
        ax.text(med[i], i, f" {med[i]:.2f}", va="center", fontsize=8)
    ax.axvline(1.0, color="grey", lw=0.8, ls=":")
    ax.invert_yaxis()
    meta = results["meta"]
    ax.set_title(
        f"bench kernels on {meta['device']} ({meta['device_name']}); red: target", fontsize=9
    )
    ax.set_xlabel("ratio (median over paired rounds, bars: quartiles)")
    fig.tight_layout()
    try:
        return write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=120))
    finally:
        plt.close(fig)
