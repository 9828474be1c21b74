"""Checks for Chapter 8's exercises (interpretability; §4 of the paper, "Interpretability for model
inspection", and SPEC §8): the explanations of the benign-only and the attacked global model, in numbers.

Every check recomputes the maps it grades with :func:`fedutils.analysis.interpret.attributions` on the
student's own models and runs, so an answer is judged on the preset, rounds and seed the student used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import torch
from torch import nn

from fedutils.analysis.interpret import (
    PAPER_METHODS,
    Method,
    attribution_similarity,
    attributions,
    similarity_summary,
    spearman,
)
from fedutils.book.exercises.base import AnswerError, Passed, differing_settings, require_answer, require_run
from fedutils.records import RunResult
from fedutils.simulation.setup import Setup

BENIGN = "benign only"
ATTACKED = "explicit boosting"
CONTROL = "benign only, another seed"
"""The chapter's labels of the models compared: the benign-only model, the explicit-boosting one, the honest control."""
ATTACK = "explicit_boosting"
TOLERANCE = 0.02
"""How far a student's rank correlation may be from the recomputed one (maps of one image computed in another batch)."""
SHIRT = "Shirt"
NEW_TARGET_CLASS = "T-shirt/top"
"""The second target of the chapter's last exercise: the first shirt of the test set, to be called a T-shirt/top."""


def method_names(answer: Any, name: str, allowed: Sequence[Method] = tuple(Method)) -> set[str]:
    """A student's collection of methods (names such as ``"gradient"`` or :class:`Method` members) as a set of names.

    Raises:
        AnswerError: the answer is missing, not a collection, or names a method outside ``allowed``.
    """
    answer = require_answer(answer, name)
    if isinstance(answer, str | Method):
        answer = [answer]
    if isinstance(answer, Mapping) or not isinstance(answer, Iterable):
        raise AnswerError(
            f"`{name}` must be a list of method names such as ['gradient'], not a {type(answer).__name__}."
        )
    names = {item.value if isinstance(item, Method) else str(item) for item in answer}
    known = {method.value for method in allowed}
    unknown = sorted(names - known)
    if unknown:
        raise AnswerError(f"`{name}` names {unknown}, which are not among the methods compared: {sorted(known)}.")
    return names


def _listed(names: Iterable[str]) -> str:
    names = sorted(names)
    return ", ".join(names) if names else "none"


def target_spearman(first: Mapping[Method, torch.Tensor], second: Mapping[Method, torch.Tensor]) -> dict[str, float]:
    """Per method, Spearman's rank correlation of the two models' maps of the first input (the target), of |·|."""
    return {method.value: float(spearman(first[method][:1].abs(), second[method][:1].abs())[0]) for method in first}


def attack_specific_methods(maps: Mapping[str, Mapping[Method, torch.Tensor]]) -> list[str]:
    """The methods whose target maps differ more between the benign-only and the explicit-boosting model than
    between the two honest models: a lower rank correlation with the attack than with the other seed's model."""
    with_attack = target_spearman(maps[BENIGN], maps[ATTACKED])
    with_control = target_spearman(maps[BENIGN], maps[CONTROL])
    return [method for method in with_attack if with_attack[method] < with_control[method]]


def check_control(attack_specific: Iterable[str] | None, maps: Mapping[str, Mapping[Method, torch.Tensor]]) -> Passed:
    """``attack_specific`` lists the methods for which the attacked model's explanation of the target is less
    like the benign-only model's than an honest model's from another seed is (the paper's "nearly visually
    indistinguishable", §4, judged against the variation between two honest runs)."""
    answer = method_names(attack_specific, "attack_specific", tuple(maps[BENIGN]))
    expected = set(attack_specific_methods(maps))
    if answer == expected:
        if not expected:
            return Passed("no method: on the target, two honest models differ at least as much as honest and attacked.")
        return Passed(f"the attack moves the target's maps more than a second honest run for: {_listed(expected)}.")
    if answer and answer == {method.value for method in maps[BENIGN]} - expected:
        raise AnswerError(
            "`attack_specific` lists the methods where the two *honest* models' target maps are less alike: "
            "a lower rank correlation means less alike, so keep those where the attacked model's is the lower one."
        )
    raise AnswerError(
        f"`attack_specific` should list the methods whose target maps correlate less with the benign-only model's "
        f"for the attacked model than for the honest control: {_listed(expected)} (not {_listed(answer)})."
    )


def _similarity_column(table: Any, name: str) -> pd.Series:
    """Per method, the rank correlation of the first input of a student's :func:`attribution_similarity` table."""
    table = require_answer(table, name)
    if not isinstance(table, pd.DataFrame) or "spearman" not in table or "method" not in (table.index.names or []):
        raise AnswerError(f"`{name}` must be the table that attribution_similarity(...) returns.")
    return table["spearman"].groupby(level="method", sort=False).first()


def _agrees(answer: pd.Series, expected: Mapping[str, float]) -> bool:
    if set(expected) - set(answer.index):
        return False
    return all(
        abs(float(answer[method]) - value) <= TOLERANCE or (pd.isna(answer[method]) and pd.isna(value))
        for method, value in expected.items()
    )


def _mean(values: Mapping[str, float]) -> float:
    finite = [value for value in values.values() if value == value]
    return sum(finite) / len(finite) if finite else float("nan")


def check_target_class(
    sneaker_similarity: pd.DataFrame | None,
    separates_better: bool | None,
    models: Mapping[str, nn.Module],
    inputs: torch.Tensor,
    target: Any,
) -> Passed:
    """``sneaker_similarity`` compares the two models' maps of the target's *target* class on the target
    (the auditor's question "why could this be a sneaker?"), and ``separates_better`` says whether that
    question makes the benign-only and the explicit-boosting model less alike, on average over the paper's
    methods, than each model explaining its own prediction."""
    column = _similarity_column(sneaker_similarity, "sneaker_similarity")
    target_class = int(target.target_class)
    image = inputs[:1]
    benign, attacked = models[BENIGN], models[ATTACKED]
    asked = target_spearman(
        attributions(benign, image, PAPER_METHODS, target=[target_class]),
        attributions(attacked, image, PAPER_METHODS, target=[target_class]),
    )
    own = target_spearman(attributions(benign, image, PAPER_METHODS), attributions(attacked, image, PAPER_METHODS))
    if not _agrees(column, asked):
        if _agrees(column, own):
            raise AnswerError(
                f"`sneaker_similarity` compares each model's explanation of its *own* prediction; explain class "
                f"{target_class} with both (attributions(..., target=[{target_class}]))."
            )
        raise AnswerError(
            f"`sneaker_similarity` is not the similarity of the benign-only and the explicit-boosting model's maps "
            f"of class {target_class} on the target image, for the paper's methods ({_listed(asked)})."
        )
    separates_better = require_answer(separates_better, "separates_better")
    expected = _mean(asked) < _mean(own)
    if bool(separates_better) != expected:
        raise AnswerError(
            f"asked about class {target_class} the two models' target maps correlate at {_mean(asked):.2f} on "
            f"average, explaining their own predictions at {_mean(own):.2f}: so `separates_better` is {expected}."
        )
    return Passed(
        f"mean rank correlation {_mean(asked):.2f} when both explain class {target_class}, "
        f"{_mean(own):.2f} when each explains its own prediction."
    )


def first_of_class(setup: Setup, class_name: str) -> int:
    """The index of the first test image of ``class_name``."""
    label = setup.dataset.class_names.index(class_name)
    return int(torch.nonzero(setup.dataset.test.y == label)[0, 0])


def singled_out_methods(
    poisoned: nn.Module, benign: nn.Module, setup: Setup, target_index: int, ordinary: Sequence[int]
) -> list[str]:
    """The paper's methods by whose rank correlation the test image ``target_index`` is the least alike (rank 1)
    of itself and the ``ordinary`` test images, between the benign-only and the ``poisoned`` model."""
    others = [i for i in ordinary if i != target_index]
    test = setup.dataset.test
    images = torch.cat([test.x[[target_index]], test.x[others]])
    table = attribution_similarity(
        attributions(benign, images, PAPER_METHODS),
        attributions(poisoned, images, PAPER_METHODS),
        labels=["target"] + [f"test #{i}" for i in others],
    )
    ranks = similarity_summary({"poisoned": table}, "target")[("poisoned", "target's rank")]
    return [method for method, rank in ranks.items() if rank == 1]


def check_another_target(
    shirt_run: RunResult | None,
    singled_out: Iterable[str] | None,
    runs: Mapping[str, RunResult],
    setup: Setup,
    ordinary: Sequence[int],
) -> Passed:
    """``shirt_run`` is explicit boosting aimed at the first shirt of the test set (to be called a T-shirt/top),
    otherwise the benign-only run's experiment, and ``singled_out`` lists the paper's methods by whose rank
    correlation that shirt is the least alike of the inputs compared (rank 1)."""
    shirt_run = require_run(shirt_run, "shirt_run", attack=ATTACK)
    class_names = setup.dataset.class_names
    shirt = first_of_class(setup, SHIRT)
    wanted = [[shirt, class_names.index(NEW_TARGET_CLASS)]]
    targets = [[t.index, t.target_class] for t in shirt_run.config.targets]
    if targets != wanted:
        aimed = ", ".join(
            f"test image {index} ({class_names[int(setup.dataset.test.y[index])]}) → {class_names[cls]}"
            for index, cls in targets
        )
        raise AnswerError(
            f"`shirt_run` must aim at the first shirt, test image {shirt}, as a {NEW_TARGET_CLASS} "
            f"(targets=(Target({shirt}, {wanted[0][1]}),)), not at {aimed or 'no target'}."
        )
    reference = runs[BENIGN]
    differing = differing_settings(shirt_run, reference, {"attack", "targets"})
    if differing:
        raise AnswerError(
            f"`shirt_run` must differ from the benign-only run only in its attack and target, but its "
            f"{', '.join(differing)} differ: build it from `base`."
        )
    answer = method_names(singled_out, "singled_out", PAPER_METHODS)
    expected = set(singled_out_methods(shirt_run.global_model(), reference.global_model(), setup, shirt, ordinary))
    if answer != expected:
        raise AnswerError(
            f"by rank correlation the shirt is the least alike input (rank 1) for {_listed(expected)}, "
            f"so `singled_out` should list those, not {_listed(answer)}."
        )
    if not expected:
        return Passed("no method singles the shirt out: for each, some ordinary image is less alike.")
    return Passed(f"the shirt is the least alike input for {_listed(expected)}.")
