"""snnleak: how much private data leaks from the gradients of spiking and conventional networks."""

__version__ = "0.1.0"
