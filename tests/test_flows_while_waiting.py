"""Loads a later stage needs, done while the flow stage waits for its next batch
(``pipeline.build_flows``' ``while_waiting``, ``analyze._Early``): each once, in order, only
while no batch is ready; the flows the same; an error raised where the load is asked for."""

from __future__ import annotations

import queue

import pytest

from capture_builders import SECOND, T0, ether, flows_of, udp, write_pcap
from tracecheck.analyze import _Early
from tracecheck.errors import UserError
from tracecheck.flows import pipeline


def test_chores_run_in_order_only_while_nothing_is_ready():
    ready: queue.Queue = queue.Queue()
    done = []

    def chore(name: str, arrives: bool = False):
        def run():
            done.append(name)
            if arrives:
                ready.put("batch")
        return run

    chores = [chore("first"), chore("second", arrives=True), chore("third")]
    assert pipeline._next_ready(ready, chores) == "batch"
    assert done == ["first", "second"] and len(chores) == 1
    ready.put("next")
    assert pipeline._next_ready(ready, chores) == "next"  # ready: the chore waits its turn
    assert done == ["first", "second"]


def test_the_flows_are_the_same_with_chores_and_every_chore_runs_at_most_once(tmp_path):
    path = write_pcap(tmp_path / "c.pcap", [(T0 + i * SECOND, ether(udp(dst=f"10.0.1.{i % 50}")))
                                            for i in range(500)])
    calls = []
    chores = [lambda n=n: calls.append(n) for n in range(5)]
    with_chores = pipeline.build_flows([str(path)], while_waiting=chores)
    assert with_chores.flows == flows_of(path).flows
    assert calls == sorted(set(calls)) and set(calls) <= set(range(5))
    assert len(chores) == 5  # the caller's list is left as it was


def test_an_early_load_runs_once_and_its_error_waits_for_whoever_asks():
    loads = []

    def load():
        loads.append(1)
        raise UserError("geo sources: no such file")

    early = _Early(load)
    early()  # while waiting: the error is kept, not raised
    early()
    with pytest.raises(UserError, match="no such file"):
        early.get()
    assert loads == [1]
    value = _Early(lambda: 42)
    assert value.get() == 42 and value.get() == 42
