"""Chapter 8's exercise checks recompute the maps they grade, on tiny real federations of Fashion-MNIST."""

from __future__ import annotations

import pytest
import torch
from support import QUIET

from fedutils import Target, preset, run_experiment
from fedutils.analysis.interpret import ALL_METHODS, PAPER_METHODS, Method, attribution_similarity, attributions
from fedutils.attacks import ExplicitBoosting
from fedutils.book.exercises import AnswerError
from fedutils.book.exercises import interpretability as exercises
from fedutils.run_options import DataSource
from fedutils.simulation.setup import prepare

SIMILARITY_IMAGES = 4


def _run(config):
    return run_experiment(config, QUIET)


@pytest.fixture(scope="module")
def chapter():
    """The chapter's objects at a tiny scale: the runs, their models, the inputs and the target."""
    base = preset("smoke", samples_per_agent=50, max_rounds=1, evaluate_agents=False, stop_accuracy=None)
    runs = {
        exercises.BENIGN: _run(base),
        exercises.ATTACKED: _run(base.replace(attack=ExplicitBoosting())),
        exercises.CONTROL: _run(base.replace(seed=base.seed + 1)),
    }
    setup = prepare(base, DataSource(download=False))
    target = setup.targets.targets[0]
    ordinary = [i for i in range(len(setup.dataset.test)) if i != target.index][:SIMILARITY_IMAGES]
    inputs = torch.cat([setup.targets.x[:1], setup.dataset.test.x[ordinary]])
    models = {label: run.global_model() for label, run in runs.items()}
    return {"base": base, "runs": runs, "setup": setup, "target": target, "ordinary": ordinary, "inputs": inputs,
            "models": models}  # fmt: skip


def test_the_control_answer_is_recomputed_and_its_reverse_fails(chapter):
    maps = {label: attributions(model, chapter["inputs"], ALL_METHODS) for label, model in chapter["models"].items()}
    expected = exercises.attack_specific_methods(maps)
    assert exercises.check_control(expected, maps)
    assert exercises.check_control([Method(m) for m in expected], maps), "Method members are names too"
    reverse = [m.value for m in ALL_METHODS if m.value not in expected]
    with pytest.raises(AnswerError, match="attack_specific"):
        exercises.check_control(reverse, maps)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_control(..., maps)
    with pytest.raises(AnswerError, match="not among the methods"):
        exercises.check_control(["saliency"], maps)


def test_the_sneaker_question_needs_class_seven_and_the_right_comparison(chapter):
    models, inputs, target = chapter["models"], chapter["inputs"], chapter["target"]
    image = inputs[:1]

    def table(**options):
        first = attributions(models[exercises.BENIGN], image, PAPER_METHODS, **options)
        second = attributions(models[exercises.ATTACKED], image, PAPER_METHODS, **options)
        return attribution_similarity(first, second, labels=["target"])

    asked, own = table(target=[target.target_class]), table()
    better = bool(asked["spearman"].mean() < own["spearman"].mean())
    assert exercises.check_target_class(asked, better, models, inputs, target)
    with pytest.raises(AnswerError, match="separates_better"):
        exercises.check_target_class(asked, not better, models, inputs, target)
    predicted = int(models[exercises.BENIGN](image).argmax())
    assert predicted != target.target_class, "the honest model should not call the target a sneaker"
    with pytest.raises(AnswerError, match="own"):
        exercises.check_target_class(own, better, models, inputs, target)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_target_class(..., better, models, inputs, target)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_target_class(asked, ..., models, inputs, target)


def test_the_second_target_must_be_the_first_shirt_and_its_methods_are_recomputed(chapter):
    setup, runs, ordinary = chapter["setup"], chapter["runs"], chapter["ordinary"]
    shirt = exercises.first_of_class(setup, exercises.SHIRT)
    assert setup.dataset.class_names[int(setup.dataset.test.y[shirt])] == "Shirt"
    shirt_run = _run(chapter["base"].replace(targets=(Target(shirt, 0),), attack=ExplicitBoosting()))
    expected = exercises.singled_out_methods(
        shirt_run.global_model(), runs[exercises.BENIGN].global_model(), setup, shirt, ordinary
    )
    assert exercises.check_another_target(shirt_run, expected, runs, setup, ordinary)
    wrong = [m.value for m in PAPER_METHODS if m.value not in expected]
    with pytest.raises(AnswerError, match="singled_out"):
        exercises.check_another_target(shirt_run, wrong, runs, setup, ordinary)
    with pytest.raises(AnswerError, match="first shirt"):  # the sandal's run, not the shirt's
        exercises.check_another_target(runs[exercises.ATTACKED], expected, runs, setup, ordinary)
    with pytest.raises(AnswerError, match="explicit_boosting"):
        exercises.check_another_target(runs[exercises.CONTROL], expected, runs, setup, ordinary)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_another_target(shirt_run, ..., runs, setup, ordinary)
    with pytest.raises(AnswerError, match="no answer yet"):
        exercises.check_another_target(..., expected, runs, setup, ordinary)
