"""Local training and evaluation of one model."""

from __future__ import annotations

import torch

from fedutils.data.targets import PAPER_TARGET, make_target_set
from fedutils.models import ModelName, build_model, flatten_parameters, load_flat_parameters
from fedutils.training import BatchOrder, batch_indices, evaluate, evaluate_targets, local_step_count, train_locally


def test_step_count_is_int_e_n_over_b():
    assert local_step_count(6000, 5, 50) == 600  # the paper's 600 steps per round
    assert local_step_count(6000, 0.5, 50) == 60
    assert local_step_count(10, 1, 50) == 1


def test_sequential_order_is_the_authors_fixed_order():
    """Offsets (s*B) mod (n - B): the same each epoch, and the last B samples are never used."""
    slices = list(batch_indices(6000, 50, 600, BatchOrder.SEQUENTIAL))
    starts = [s.start for s in slices]
    assert starts[:3] == [0, 50, 100] and starts[119] == 0 and starts[118] == 5900
    assert max(s.stop for s in slices) == 5950
    assert starts == [s.start for s in batch_indices(6000, 50, 600, BatchOrder.SEQUENTIAL)]


def test_shuffled_order_covers_each_epoch_and_is_seeded():
    def draw(seed):
        return torch.cat(list(batch_indices(100, 10, 20, BatchOrder.SHUFFLED, torch.Generator().manual_seed(seed))))

    first = draw(1)
    assert torch.equal(first, draw(1)) and not torch.equal(first, draw(2))
    assert sorted(first[:100].tolist()) == list(range(100)) == sorted(first[100:].tolist())


def test_local_training_fits_the_data_and_uses_a_fresh_optimiser(fmnist):
    data = fmnist.train.subset(slice(0, 500))
    model = build_model(ModelName.FAST_CNN)
    start = flatten_parameters(model)
    before = evaluate(model, data)

    def train_from_start():
        load_flat_parameters(model, start)
        torch.manual_seed(3)
        train_locally(model, data, num_steps=40, batch_size=50, learning_rate=1e-3)
        return flatten_parameters(model)

    trained = train_from_start()
    assert evaluate(model, data).loss < 0.7 * before.loss
    assert not model.training  # left in eval mode
    assert torch.equal(trained, train_from_start())  # no optimiser state carried over


def test_evaluation_has_dropout_off_and_reports_targets(fmnist):
    model = build_model(ModelName.MODEL_A)
    data = fmnist.test.subset(slice(0, 200))
    assert evaluate(model, data) == evaluate(model, data)
    targets = make_target_set(fmnist.test, [PAPER_TARGET], fmnist.class_names)
    (outcome,) = evaluate_targets(model, targets)
    assert outcome.index == 5454 and outcome.true_class == 5 and outcome.target_class == 7
    assert 0.0 <= outcome.confidence <= outcome.predicted_confidence <= 1.0
    assert outcome.hit == (outcome.predicted == 7)
