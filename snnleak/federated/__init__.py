"""What a federated client does to its model: local training (FedSGD or FedAvg)."""
