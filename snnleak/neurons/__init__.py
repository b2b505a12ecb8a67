"""Multi-step spiking neurons: parameters, the reference, and backends built on other libraries."""

from snnleak.neurons.backends import BACKENDS, get_backend, multistep, multistep_trace
from snnleak.neurons.module import SpikingNeuron
from snnleak.neurons.params import NeuronParams
from snnleak.neurons.reference import NeuronTrace

__all__ = [
    "BACKENDS",
    "NeuronParams",
    "NeuronTrace",
    "SpikingNeuron",
    "get_backend",
    "multistep",
    "multistep_trace",
]
