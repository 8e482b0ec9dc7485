"""Mutated corpus objects through every command that reads an object, each case in its own
process capped in time and memory (tests/fuzz/harness.py): no traceback, exit 0 or one
``error:`` line naming the input, no hang, no memory blow-up, no temporary file left.

Bounded for CI (BPF_BUILD_FUZZ_EXAMPLES mutants, default 20, each through all 11 commands);
``python3 bench/fuzz.py --mutants N`` runs the same cases at length.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.fuzz import harness as H

EXAMPLES = int(os.environ.get("BPF_BUILD_FUZZ_EXAMPLES", "20"))
CASES = ("maps", "globals", "core")


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return H.build_corpus(str(tmp_path_factory.mktemp("fuzz-corpus")), CASES)


@pytest.fixture(scope="module")
def worker():
    with H.Worker() as w:
        yield w


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("fuzz-case"))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(pick=st.integers(min_value=0), seed_value=st.integers(min_value=0, max_value=2**63))
def test_every_command_survives_mutated_objects(seeds, worker, case_dir, pick, seed_value):
    seed = seeds[pick % len(seeds)]
    outcomes, findings = H.run_mutant(worker, seed, seed_value, case_dir)
    assert len(outcomes) == len(H.COMMANDS)
    assert not findings, "\n".join(
        f"{f.command}: {f.problem} on {f.seed} mutated by seed {f.seed_value} ({', '.join(f.edits)}):\n"
        f"{f.stderr}" for f in findings)


def test_the_harness_sees_a_traceback_a_hang_and_a_blow_up(worker, tmp_path):
    """The verdicts come from real misbehaviour of a real capped child: an entry point that
    raises, one that never returns (2 s wall limit here), one that allocates without bound
    (64 MiB cap here)."""
    (tmp_path / "out").mkdir()
    for label, argv in (("traceback", ("--raise",)), ("hang", ("--hang",)), ("blow-up", ("--allocate",))):
        outcome = worker.run(H.Command(label, "self-test", argv), str(tmp_path), wall=2, headroom=64 << 20)
        assert outcome.problem((H.INPUT_NAME,)) == label, outcome
