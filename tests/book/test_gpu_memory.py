"""The appendix's GPU memory table is the batched executor's own plan, and the plan is what the executor does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fedutils import ConfigError, preset
from fedutils.book import tables
from fedutils.run_options import DataSource
from fedutils.simulation import execution
from fedutils.simulation.execution import BatchedExecutor, memory_needs, stacked_group_size
from fedutils.simulation.setup import build_agents, initial_parameters, prepare

APPENDIX = Path(__file__).resolve().parents[2] / "appendix" / "running_the_book.md"


def test_the_appendix_shows_the_planners_own_numbers_for_a_colab_t4():
    table = tables.gpu_memory_table()
    assert tables.markdown(table) in APPENDIX.read_text(), "re-run tables.gpu_memory_table() into the appendix"
    assert list(table.index) == list(tables.MEMORY_PRESETS)
    assert (table["peak (GiB)"] <= tables.COLAB_T4_FREE_BYTES / 2**30).all()


def test_more_agents_need_no_more_memory_per_agent_and_the_group_fills_half_the_free_memory():
    needs = memory_needs(preset("fast"))
    many = memory_needs(preset("fast_k100"))
    assert many.per_agent == needs.per_agent and many.agents == needs.agents == 10
    free = 64 * needs.per_agent + needs.data
    assert needs.group(free) == min(needs.agents, stacked_group_size(needs.per_agent, free - needs.data)) == 10
    assert stacked_group_size(needs.per_agent, 64 * needs.per_agent) == 32  # half of it
    assert stacked_group_size(needs.per_agent, 0) == 1


@pytest.fixture
def smoke_round():
    setup = prepare(preset("smoke", max_rounds=1, samples_per_agent=24, batch_size=8), DataSource(download=False))
    return build_agents(setup, torch.device("cpu")), initial_parameters(setup.config, setup.dataset.num_classes)


def test_a_group_that_runs_out_of_memory_is_split_and_gives_the_same_updates(monkeypatch, smoke_round):
    """What a GPU would raise is raised here for any group of more than two agents."""
    agents, start = smoke_round
    expected = BatchedExecutor(max_stacked=2).updates(agents, start, 1)
    original = execution._train_stacked
    sizes = []

    def short_of_memory(network, members, *args):
        sizes.append(len(members))
        if len(members) > 2:
            raise torch.cuda.OutOfMemoryError("planted")
        return original(network, members, *args)

    monkeypatch.setattr(execution, "_train_stacked", short_of_memory)
    updates = BatchedExecutor(max_stacked=8).updates(agents, start, 1)
    assert sizes[0] == 8 and sizes[1] == 4 and max(sizes[2:]) == 2
    assert torch.equal(updates, expected)


def test_a_run_sharing_a_gpu_plans_with_its_share(monkeypatch):
    monkeypatch.setattr(execution, "free_memory", lambda device: 1000)
    executor = BatchedExecutor(memory_share=0.25)
    network = type("Network", (), {"training_bytes": lambda self, batch: 10})()
    agent = type("Agent", (), {"training": type("T", (), {"batch_size": 50})(), "data": [0] * 100})()
    assert executor._group_size(network, agent, torch.device("cuda")) == stacked_group_size(10, 250) == 12
    with pytest.raises(ConfigError, match="memory_share must be a fraction"):
        BatchedExecutor(memory_share=0)
