"""benchmarks/glimpse_hits.py: where a trained RAM looked, split by how close it came to the digit."""

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("glimpse_hits", REPO / "benchmarks" / "glimpse_hits.py")
glimpse_hits = sys.modules["glimpse_hits"] = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(glimpse_hits)


def test_groups_partition_the_split_and_a_trained_28x28_agent_looks_at_its_digit(data_dir, tmp_path):
    out = tmp_path / "hits"
    assert glimpse_hits.main([str(REPO / "pretrained/mnist28_ram7.pt"), "--out", str(out)]) == 0
    result = glimpse_hits.analyse(str(REPO / "pretrained/mnist28_ram7.pt"), "val", data_dir)
    for policy in result["policies"].values():
        groups = policy["closest"]
        # every canvas falls in exactly one group, and the groups' errors add up to the split's error
        assert abs(sum(g["share"] for g in groups) - 1) < 1e-6
        assert abs(sum(g["share"] * (g["error"] or 0) for g in groups) - policy["error"]) < 1e-6
        assert abs(sum(f["share"] for f in policy["first_near"]) - 1) < 1e-6
    # on a 28x28 canvas the digit fills it: a trained agent's closest glimpse is nearly always on it
    assert result["policies"]["deterministic"]["closest"][0]["share"] > 0.9
    assert (out.with_suffix(".md")).read_text().startswith("# Where RAM looks")


def test_a_missing_checkpoint_is_one_line_and_writes_no_report(tmp_path, capsys):
    out = tmp_path / "hits"
    assert glimpse_hits.main([str(tmp_path / "gone"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "gone" in err
    assert not out.with_suffix(".md").exists()
