"""Scenario texts and text helpers shared by the scenario and hardening tests."""

TINY = """\
title = "tiny"

[[fabric]]
name = "ls 1:1"
builder = "leaf_spine"
leaves = 2
spines = 2
hosts_per_leaf = 2
gpus_per_host = 2

[[fabric]]
name = "ls 2:1"
builder = "leaf_spine"
leaves = 2
spines = 2
hosts_per_leaf = 2
gpus_per_host = 2
oversubscription = 2.0
routing = "spray"

[job]
params = 2e7
layers = 2
hidden_size = 256
seq_len = 512
data_parallel = 8
global_batch_tokens = 8192

[background]
sizes = "websearch"

[sweep]
loads = [0.0, 0.3]
load = 0.3
samples = 2
seed = 1
collective_size_bytes = "16MiB"
"""


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    for no, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return no
    raise AssertionError(f"{needle!r} not in text")


def replace(text: str, old: str, new: str, count: int = 1) -> str:
    assert old in text, old
    return text.replace(old, new, count)
