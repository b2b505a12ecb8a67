"""The fused C++/CUDA multi-step neuron (``csrc/``): build/load and the op wrappers."""
