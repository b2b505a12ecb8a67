"""Federated rounds on Flower (`snnleak fl`) and what its curious server does with them."""
