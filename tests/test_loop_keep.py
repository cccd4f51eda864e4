"""companion.engine.loop.train(keep=...): the weights a run hands back are the last step's (default), the best
validation step's, or the average of the last checkpoints', and a resumed run chooses as an uninterrupted one."""
from __future__ import annotations

import pytest
import torch

from companion.engine.loop import LOSSES, average_weights, train
from companion.engine.settings import TrainConfig
from companion.errors import CompanionError
from tests.test_train import PAIRS, NoiseToy, same_tensors, tiny

pytestmark = pytest.mark.usefixtures("one_thread")

SETTINGS = TrainConfig(steps=12, batch_size=4, lr=1e-3, val_every=2, checkpoint_every=2)


def scripted_validation(scores):
    """A validate() that returns ``scores`` in turn and remembers the weights it saw at each call."""
    seen = []

    def validate(model):
        seen.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return scores[len(seen) - 1]
    return validate, seen


def fit(keep="last", scores=(1, 2, 3, 4, 5, 6), path=None, steps=12, **kw):
    validate, seen = scripted_validation(list(scores))
    model = tiny(0)
    cfg = TrainConfig(**{**SETTINGS.__dict__, "steps": steps})
    result = train(model, NoiseToy(), cfg, loss=LOSSES["l2"], batch=PAIRS, model_name="tiny", progress=False,
                   validate=validate, keep=keep, checkpoint_path=path, **kw)
    return model, result, seen


def test_the_default_keeps_the_last_step():
    model, result, seen = fit()
    assert result.kept == "last" and same_tensors(model.state_dict(), seen[-1])


def test_best_keeps_the_weights_of_the_best_validation_step():
    model, result, seen = fit("best", scores=(1.0, 5.0, 2.0, 4.9, 3.0, 1.0))
    assert result.kept == "best at step 4"  # validation every 2 steps: the second call
    assert same_tensors(model.state_dict(), seen[1]) and not same_tensors(model.state_dict(), seen[-1])


def test_average_keeps_the_mean_of_the_last_checkpoints():
    model, result, seen = fit("average", average_last=3)
    assert result.kept == "average of steps 8, 10, 12"
    expected = average_weights(seen[-3:])  # validation and checkpoints fall on the same steps here
    for key, value in model.state_dict().items():
        assert torch.allclose(value, expected[key], atol=1e-7)
    assert not same_tensors(model.state_dict(), seen[-1])
    two = average_weights([{"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(1)},
                           {"w": torch.tensor([3.0, 5.0]), "n": torch.tensor(2)}])
    assert two["w"].tolist() == [2.0, 4.0] and int(two["n"]) == 2


def test_a_resumed_run_chooses_among_the_same_steps(tmp_path):
    scores = (1.0, 5.0, 2.0, 4.9, 3.0, 1.0)
    whole, _, _ = fit("best", scores=scores)
    fit("best", scores=scores[:3], path=tmp_path / "run.pt", steps=6)  # stops at step 6; best was at 4
    resumed, result, _ = fit("best", scores=scores[3:], path=tmp_path / "run.pt")
    assert result.kept == "best at step 4" and same_tensors(resumed.state_dict(), whole.state_dict())


def test_keep_refuses_what_it_cannot_honour():
    model = tiny(0)
    with pytest.raises(CompanionError, match="choose one of"):
        train(model, NoiseToy(), SETTINGS, loss=LOSSES["l2"], batch=PAIRS, model_name="tiny", keep="median")
    with pytest.raises(CompanionError, match="validate"):
        train(model, NoiseToy(), SETTINGS, loss=LOSSES["l2"], batch=PAIRS, model_name="tiny", keep="best")
    with pytest.raises(CompanionError, match="average_last"):
        train(model, NoiseToy(), SETTINGS, loss=LOSSES["l2"], batch=PAIRS, model_name="tiny", keep="average",
              average_last=0)
