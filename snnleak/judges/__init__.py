"""Judge models of Tables I and II: they decide whether a reconstruction is recognisable."""

from snnleak.judges.checkpoint import JudgeCheckpointError, judge_path
from snnleak.judges.registry import JUDGES, judge_spec, logits
from snnleak.judges.train import TrainedJudge, accuracy, load_judge, train_judge

__all__ = [
    "JUDGES",
    "JudgeCheckpointError",
    "TrainedJudge",
    "accuracy",
    "judge_path",
    "judge_spec",
    "load_judge",
    "logits",
    "train_judge",
]
