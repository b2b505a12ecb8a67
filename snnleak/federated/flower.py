"""Federated rounds on Flower, with an honest-but-curious server.

The federation is Flower's: a ``ClientApp`` per client and a ``ServerApp`` running Flower's
``FedAvg`` strategy through ``flwr.simulation.run_simulation`` (the Ray-backed simulation
engine). Each round every client draws B items from its partition (seeded by seed, client and
round), trains locally (FedSGD: one full-batch step; FedAvg: E epochs in mini-batches), applies
its defense to the update and returns its new weights. The server (:class:`CuriousFedAvg`)
aggregates as FedAvg does and, on the attack rounds, also keeps what it legitimately holds: the
global weights it sent and each client's returned weights, from which it forms the update
``(w_global - w_client) / (lr S)`` an attack receives. The global model's test accuracy is
measured after every round by Flower's server-side ``evaluate_fn``.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import torch

from snnleak import data
from snnleak.attacks.config import AttackSpec
from snnleak.attacks.threat import sent_update
from snnleak.defenses import Defense
from snnleak.errors import ConfigError
from snnleak.federated.partition import SPLITS, partition


@dataclass(frozen=True)
class Federation:
    """A federation and what its curious server attacks: ``spec`` holds the model, data,
    client batch B, local training, defense and the attack."""

    spec: AttackSpec
    clients: int = 4
    rounds: int = 5
    split: str = "iid"
    alpha: float = 0.5
    attack_rounds: tuple[int, ...] = (1, 5)
    seed: int = 0
    data_root: str | None = None  # where a real dataset is (--data-root)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ConfigError(f"--split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.clients < 2:
            raise ConfigError(f"--clients must be at least 2, got {self.clients}")
        if self.rounds < 1:
            raise ConfigError(f"--rounds must be at least 1, got {self.rounds}")
        bad = [r for r in self.attack_rounds if not 1 <= r <= self.rounds]
        if bad or not self.attack_rounds:
            raise ConfigError(
                f"--attack-rounds must be rounds 1 to {self.rounds}, got "
                f"{','.join(map(str, self.attack_rounds)) or 'none'}"
            )

    def steps(self) -> int:
        local = self.spec.local_training()
        return 1 if local is None else local.steps(self.spec.batch)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def parts_of(fed: Federation, split: data.Split) -> list[list[int]]:
    return partition(split.labels(), fed.clients, fed.split, fed.alpha, fed.seed)


def _generator(fed: Federation, client: int, rnd: int, purpose: str) -> torch.Generator:
    from snnleak.attacks.runner import trial_generator

    return trial_generator(fed.seed, 100_000 * rnd + client, purpose)


def client_batch(fed: Federation, split: data.Split, parts, client: int, rnd: int):
    """Client ``client``'s B items in round ``rnd``: ``([B, ...], labels)``."""
    from snnleak import layout

    mine = parts[client]
    g = _generator(fed, client, rnd, "batch")
    order = torch.randperm(len(mine), generator=g, device="cpu").tolist()
    picks = [mine[k] for k in order[: fed.spec.batch]]
    pairs = [split[j] for j in picks]
    return layout.stack([x for x, _ in pairs], split.info.modality), [y for _, y in pairs]


def client_update(fed: Federation, model: torch.nn.Module, x, y, client: int, rnd: int):
    """The update the client sends (its defense applied), on the gradient's scale."""
    return sent_update(
        model,
        x,
        y,
        data.get_dataset(fed.spec.dataset).modality,
        Defense.parse(fed.spec.defense),
        _generator(fed, client, rnd, "defense"),
        fed.spec.local_training(),
    )


def build_global(fed: Federation, info: data.DatasetInfo, device) -> torch.nn.Module:
    from snnleak.attacks.runner import build_victim, trial_generator

    return build_victim(fed.spec, info, trial_generator(fed.seed, 0, "global"), device)


@torch.no_grad()
def accuracy(model: torch.nn.Module, split: data.Split, device) -> float:
    from snnleak import layout

    model.eval()
    correct = 0
    for start in range(0, len(split), 128):
        pairs = [split[i] for i in range(start, min(len(split), start + 128))]
        x = layout.stack([p[0] for p in pairs], split.info.modality).to(device)
        y = torch.tensor([p[1] for p in pairs], device="cpu")
        correct += int((model(x).argmax(-1).cpu() == y).sum())
    model.train()
    return correct / max(1, len(split))


def simulate(fed: Federation, device: torch.device, log=print) -> dict:
    """Run the federation on Flower; return what the curious server kept:
    ``{"globals": {round: state}, "updates": {(round, client): [tensors]},
    "accuracy": {round: test accuracy}}`` (round 0: the initial model)."""
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg
    from flwr.simulation import run_simulation

    train_split = data.load(fed.spec.dataset, "train", root=fed.data_root, seed=0)
    test_split = data.load(fed.spec.dataset, "test", root=fed.data_root, seed=0)
    info = train_split.info
    model = build_global(fed, info, device)
    names = [n for n, _ in model.named_parameters()]
    lr_steps = fed.spec.local_lr * fed.steps()
    where = str(device)

    client_app = ClientApp()

    @client_app.train()
    def train(msg: Message, context: Context) -> Message:
        torch.set_num_threads(1)
        cid = int(context.node_config["partition-id"])
        rnd = int(msg.content["config"]["server-round"])
        split = data.load(fed.spec.dataset, "train", root=fed.data_root, seed=0)
        local = build_global(fed, split.info, torch.device(where))
        local.load_state_dict(msg.content["arrays"].to_torch_state_dict())
        x, y = client_batch(fed, split, parts_of(fed, split), cid, rnd)
        update = client_update(fed, local, x.to(where), torch.tensor(y, device=where), cid, rnd)
        with torch.no_grad():
            for p, g in zip(local.parameters(), update, strict=True):
                p.sub_(lr_steps * g)
        state = {k: v.detach().cpu() for k, v in local.state_dict().items()}
        metrics = MetricRecord({"num-examples": len(y), "partition-id": cid})
        content = RecordDict({"arrays": ArrayRecord(state), "metrics": metrics})
        return Message(content=content, reply_to=msg)

    kept: dict = {"globals": {}, "updates": {}, "accuracy": {}}

    class CuriousFedAvg(FedAvg):
        """FedAvg, whose server also keeps the updates of the attack rounds."""

        def configure_train(self, server_round, arrays, config, grid):
            if server_round in fed.attack_rounds:
                kept["globals"][server_round] = arrays.to_torch_state_dict()
            return super().configure_train(server_round, arrays, config, grid)

        def aggregate_train(self, server_round, replies):
            replies = list(replies)
            if server_round in fed.attack_rounds:
                sent = kept["globals"][server_round]
                for msg in replies:
                    if msg.has_error():
                        continue
                    cid = int(msg.content["metrics"]["partition-id"])
                    back = msg.content["arrays"].to_torch_state_dict()
                    kept["updates"][(server_round, cid)] = [
                        (sent[n] - back[n]) / lr_steps for n in names
                    ]
            return super().aggregate_train(server_round, replies)

    def evaluate(server_round: int, arrays) -> MetricRecord:
        model.load_state_dict(arrays.to_torch_state_dict())
        acc = accuracy(model, test_split, device)
        kept["accuracy"][server_round] = acc
        log(f"round {server_round}: global test accuracy {acc:.3f}")
        return MetricRecord({"accuracy": acc})

    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        strategy = CuriousFedAvg(
            fraction_train=1.0,
            fraction_evaluate=0.0,
            min_train_nodes=fed.clients,
            min_available_nodes=fed.clients,
        )
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        strategy.start(
            grid=grid,
            initial_arrays=ArrayRecord(state),
            num_rounds=fed.rounds,
            train_config=ConfigRecord({}),
            evaluate_fn=evaluate,
        )

    gpus = (1.0 / fed.clients) if device.type == "cuda" else 0.0
    logging.getLogger("flwr").setLevel(logging.WARNING)
    run_simulation(
        server_app=server_app,
        client_app=client_app,
        num_supernodes=fed.clients,
        backend_config={"client_resources": {"num_cpus": 1, "num_gpus": gpus}},
    )
    missing = [
        (r, c)
        for r in fed.attack_rounds
        for c in range(fed.clients)
        if (r, c) not in kept["updates"]
    ]
    if missing or len(kept["accuracy"]) != fed.rounds + 1:
        raise RuntimeError(
            f"the Flower run ended without every update it should have kept (missing {missing}); "
            "see Flower's log above"
        )
    return kept
