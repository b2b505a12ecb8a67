"""Federated rounds on Flower, with an honest-but-curious server.

The federation is Flower's: a ``ClientApp`` per client and a ``ServerApp`` running Flower's
``FedAvg`` strategy through ``flwr.simulation.run_simulation`` (the Ray-backed simulation
engine). Each round every client (:func:`client_train`) draws B items from its partition,
trains locally (FedSGD: one full-batch step; FedAvg: E epochs in mini-batches), applies its
defense to the update and returns its new weights; every draw it makes (its batch, a stochastic
encoder's spikes, its defense's noise) comes from a generator of its own, seeded by the
federation's seed, the client and the round (:func:`snnleak.seeding.client_rng`). The server
(:class:`CuriousFedAvg`) aggregates as FedAvg does and, on the attack rounds, also keeps what it
legitimately holds: the global weights it sent and each client's returned weights, from which
it forms the update ``(w_global - w_client) / (lr S)`` an attack receives
(:func:`update_from`). The global model's test accuracy (:func:`accuracy`) is measured after
every round by Flower's server-side ``evaluate_fn``. The Flower apps are thin shells over these
functions, which run without Flower or Ray.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import torch

from snnleak import data, layout
from snnleak.attacks.config import AttackSpec
from snnleak.client import items_of, own_generators, sent_update
from snnleak.defenses import Defense
from snnleak.errors import ConfigError
from snnleak.federated.partition import PARTITIONS, partition
from snnleak.models.victims import build_victim
from snnleak.seeding import client_rng, trial_rng


@dataclass(frozen=True)
class Federation:
    """A federation and what its curious server attacks: ``spec`` holds the model, data,
    client batch B, local training, defense and the attack."""

    spec: AttackSpec
    clients: int = 4
    rounds: int = 5
    partition: str = "iid"  # how the training set is shared out: iid or dirichlet
    dirichlet_alpha: float = 0.5  # the Dirichlet concentration of a label-skewed partition
    attack_rounds: tuple[int, ...] = (1, 5)
    seed: int = 0
    data_root: str | None = None  # where a real dataset is (--data-root)

    def __post_init__(self) -> None:
        if self.partition not in PARTITIONS:
            raise ConfigError(
                f"--partition must be one of {', '.join(PARTITIONS)}, got {self.partition!r}"
            )
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
        local = self.spec.client.local_training()
        return 1 if local is None else local.steps(self.spec.client.batch)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def parts_of(fed: Federation, split: data.Split) -> list[list[int]]:
    return partition(split.labels(), fed.clients, fed.partition, fed.dirichlet_alpha, fed.seed)


def round_batch(fed: Federation, split: data.Split, parts, client: int, rnd: int):
    """Client ``client``'s B items in round ``rnd`` (of its partition): ``([B, ...], labels)``."""
    mine = parts[client]
    rng = client_rng(fed.seed, client, rnd, "batch")
    order = torch.randperm(len(mine), generator=rng, device="cpu").tolist()
    return items_of(split, [mine[k] for k in order[: fed.spec.client.batch]])


def client_update(fed: Federation, model: torch.nn.Module, x, y, client: int, rnd: int):
    """The update the client sends (its defense applied), on the gradient's scale."""
    return sent_update(
        model,
        x,
        y,
        data.get_dataset(fed.spec.dataset).modality,
        Defense.parse(fed.spec.client.defense),
        client_rng(fed.seed, client, rnd, "defense"),
        fed.spec.client.local_training(),
    )


def build_global(fed: Federation, info: data.DatasetInfo, device) -> torch.nn.Module:
    """The federation's initial global model (seeded by the federation)."""
    return build_victim(fed.spec.victim, info, trial_rng(fed.seed, 0, "global"), device)


def client_train(
    fed: Federation,
    state: dict,
    split: data.Split,
    client: int,
    rnd: int,
    device: torch.device,
) -> dict[str, torch.Tensor]:
    """One client's round: from the global weights ``state``, its batch, its update (its
    encoder drawing from its own generator), its SGD step; its new weights, on the CPU."""
    local = build_global(fed, split.info, device)
    local.load_state_dict(state)
    own_generators(local, client_rng(fed.seed, client, rnd, "encoding"))
    x, y = round_batch(fed, split, parts_of(fed, split), client, rnd)
    update = client_update(fed, local, x.to(device), torch.tensor(y, device=device), client, rnd)
    with torch.no_grad():
        for p, g in zip(local.parameters(), update, strict=True):
            p.sub_(fed.spec.client.local.lr * fed.steps() * g)
    return {k: v.detach().cpu() for k, v in local.state_dict().items()}


def update_from(
    sent: dict, returned: dict, names: list[str], lr_steps: float
) -> list[torch.Tensor]:
    """What the server forms from the weights it sent and those a client returned: the
    update ``(w_sent - w_returned) / (lr S)``, one tensor per parameter."""
    return [(sent[n] - returned[n]) / lr_steps for n in names]


@torch.no_grad()
def accuracy(model: torch.nn.Module, split: data.Split, device) -> float:
    """The model's accuracy on ``split`` (evaluated in eval mode, left in train mode)."""
    model.eval()
    correct = 0
    for start in range(0, len(split), 128):
        pairs = [split[i] for i in range(start, min(len(split), start + 128))]
        x = layout.stack([p[0] for p in pairs], split.info.modality).to(device)
        y = torch.tensor([p[1] for p in pairs], device="cpu")
        correct += int((model(x).argmax(-1).cpu() == y).sum())
    model.train()
    return correct / max(1, len(split))


def _fedavg():
    from flwr.serverapp.strategy import FedAvg

    return FedAvg


class CuriousFedAvg(_fedavg()):
    """Flower's FedAvg, whose server also keeps, on the attack rounds, the global weights it
    sent and the update each client's returned weights give (into ``kept``)."""

    def __init__(self, fed: Federation, names: list[str], kept: dict, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fed, self.names, self.kept = fed, names, kept
        self.lr_steps = fed.spec.client.local.lr * fed.steps()

    def configure_train(self, server_round, arrays, config, grid):
        if server_round in self.fed.attack_rounds:
            self.kept["globals"][server_round] = arrays.to_torch_state_dict()
        return super().configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round, replies):
        replies = list(replies)
        if server_round in self.fed.attack_rounds:
            sent = self.kept["globals"][server_round]
            for msg in replies:
                if msg.has_error():
                    continue
                cid = int(msg.content["metrics"]["partition-id"])
                back = msg.content["arrays"].to_torch_state_dict()
                self.kept["updates"][(server_round, cid)] = update_from(
                    sent, back, self.names, self.lr_steps
                )
        return super().aggregate_train(server_round, replies)


def simulate(fed: Federation, device: torch.device, log=print) -> dict:
    """Run the federation on Flower; return what the curious server kept:
    ``{"globals": {round: state}, "updates": {(round, client): [tensors]},
    "accuracy": {round: test accuracy}}`` (round 0: the initial model)."""
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.simulation import run_simulation

    train_split = data.load(fed.spec.dataset, "train", root=fed.data_root, seed=0)
    test_split = data.load(fed.spec.dataset, "test", root=fed.data_root, seed=0)
    model = build_global(fed, train_split.info, device)
    names = [n for n, _ in model.named_parameters()]
    where = str(device)
    kept: dict = {"globals": {}, "updates": {}, "accuracy": {}}
    client_app = ClientApp()

    @client_app.train()
    def train(msg: Message, context: Context) -> Message:
        torch.set_num_threads(1)
        cid = int(context.node_config["partition-id"])
        rnd = int(msg.content["config"]["server-round"])
        split = data.load(fed.spec.dataset, "train", root=fed.data_root, seed=0)
        state = msg.content["arrays"].to_torch_state_dict()
        new = client_train(fed, state, split, cid, rnd, torch.device(where))
        metrics = MetricRecord({"num-examples": fed.spec.client.batch, "partition-id": cid})
        content = RecordDict({"arrays": ArrayRecord(new), "metrics": metrics})
        return Message(content=content, reply_to=msg)

    def evaluate(server_round: int, arrays) -> MetricRecord:
        model.load_state_dict(arrays.to_torch_state_dict())
        kept["accuracy"][server_round] = acc = accuracy(model, test_split, device)
        log(f"round {server_round}: global test accuracy {acc:.3f}")
        return MetricRecord({"accuracy": acc})

    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        strategy = CuriousFedAvg(
            fed,
            names,
            kept,
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
