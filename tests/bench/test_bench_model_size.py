"""The model-size comparison trains both configurations on one world and reports what
it measured for each (the figures themselves are printed by the command, not tested)."""

from __future__ import annotations

from bench.model_size import compare


def test_both_configurations_are_trained_on_one_world_and_measured() -> None:
    default, reference = compare(sites=600, seed=5, rows=20)
    assert (default["config"], reference["config"]) == ("default", "reference")
    assert reference["structure"] == "tweedie"
    # issue 9's size for the loss model; the term projection (hours, trend) comes beside
    assert reference["trees"]["tweedie"] == reference["trees"]["frequency"] == 300
    assert default["trees"] != reference["trees"]
    for line in (default, reference):
        assert float(line["treeshap_cpu_ms_per_row"]) > 0
        assert 0 < float(line["normalized_gini"]) <= 1
        assert float(line["gini_share_of_oracle"]) > 0
