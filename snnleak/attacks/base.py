"""The attack protocol: what every attack is to the code that runs it.

An attack is built from its configuration (:mod:`snnleak.attacks.factory`) and sees nothing but
:class:`~snnleak.threat.Observation`\\ s: ``reconstruct(observation, rng)`` returns a
:class:`~snnleak.threat.Reconstruction`, drawing whatever it draws (its starting dummy, a
generator's seed) from ``rng``. An attack that can run several trials as one computation also
has ``reconstruct_trials(observations, rngs)``, which must give what ``reconstruct`` gives each,
up to float rounding. :func:`reconstruct_many` is the one entry point of the trial runner.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch

from snnleak.threat import Observation, Reconstruction


@runtime_checkable
class Attack(Protocol):
    name: str

    def reconstruct(self, obs: Observation, rng: torch.Generator) -> Reconstruction: ...


@runtime_checkable
class TrialsAttack(Attack, Protocol):
    def reconstruct_trials(
        self, observations: Sequence[Observation], rngs: Sequence[torch.Generator]
    ) -> list[Reconstruction]: ...


def reconstruct_many(
    attack: Attack, observations: Sequence[Observation], rngs: Sequence[torch.Generator]
) -> list[Reconstruction]:
    """Each observation attacked as ``attack.reconstruct`` would; several together as one
    computation when the attack has a batched form."""
    if len(observations) != len(rngs):
        raise ValueError("one random generator per observation")
    if len(observations) > 1 and isinstance(attack, TrialsAttack):
        return attack.reconstruct_trials(observations, rngs)
    return [attack.reconstruct(o, g) for o, g in zip(observations, rngs, strict=True)]
