import json

from tentnet.bench import bench
from tentnet.cli import main


def test_bench_agrees_and_reports(capsys):
    res = bench(models=3, depth=3, steps=20, method="tent")
    assert res.max_weight_difference < 1e-9
    assert res.batched_s > 0 and res.sequential_s > 0 and res.plain_s > 0
    assert main(["bench", "--models", "2", "--depth", "2", "--steps", "5", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"models", "depth", "steps", "batched_s", "sequential_s", "speedup"} <= set(doc)
    assert doc["models"] == 2 and doc["steps"] == 5
