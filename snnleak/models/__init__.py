"""Victim models: the DLG LeNet and its spiking twin."""

from snnleak.models.lenet import LeNet, init_uniform_
from snnleak.models.lenet_snn import LeNet5SNN

__all__ = ["LeNet", "LeNet5SNN", "init_uniform_"]
