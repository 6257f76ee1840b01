"""``fabricsim demo`` (formerly ``python -m fabricsim``): the leaf-spine tour runs and its
numbers are consistent. ``python -m fabricsim`` itself is ``fabricsim compare``:
test_commands.py."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from fabricsim.cli.demo import main


def run(capsys, *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_demo_sections_and_counts(capsys):
    out = run(capsys)
    for heading in ("== fabric ==", "== routing", "== cross-leaf permutation"):
        assert heading in out
    # 4 leaves x 2 hosts x 8 GPUs.
    assert re.search(r"^gpu\s+64$", out, re.M)
    assert re.search(r"^nvswitch\s+8$", out, re.M)
    assert re.search(r"^leaf\s+4$", out, re.M) and re.search(r"^spine\s+4$", out, re.M)
    # 16 leaf-spine links of 6400 / (4 * 2) = 800 Gb/s; 2:1 oversubscribed.
    assert re.search(r"^fabric\s+leaf - spine\s+16\s+800\s+12\.8\s+0\.96$", out, re.M)
    assert "6400 Gb/s down / 3200 Gb/s up = 2:1" in out
    # Cross-leaf pairs have one equal-cost path per spine; the NVLink pair has one.
    assert re.search(r"same host\s+2\s+1\s+0\.6\s+host0/nvswitch", out)
    assert re.search(r"next leaf\s+4\s+4\s+2\.4\s+leaf0 > spine\d > leaf1", out)


def completion_ms(out: str, policy: str) -> tuple[float, str]:
    m = re.search(rf"^{policy}\s+([\d.]+)\s+([\d.]+)\s+(\d+)%", out, re.M)
    assert m, out
    return float(m.group(2)), m.group(3)


def test_demo_spray_reaches_ideal_and_ecmp_does_not_beat_it(capsys):
    out = run(capsys)
    ideal = float(re.search(r"ideal .*: ([\d.]+) ms", out).group(1))
    # 256 MiB over a 200 Gb/s share of the 2:1 uplinks at 0.96 efficiency.
    assert ideal == pytest.approx(256 * 2**20 / (200e9 / 8 * 0.96) * 1e3, abs=0.01)
    spray, spray_pct = completion_ms(out, "spray")
    ecmp, _ = completion_ms(out, "ecmp")
    assert spray == pytest.approx(ideal, abs=0.02) and spray_pct == "100"
    assert ecmp >= spray


def test_demo_options(capsys):
    out = run(capsys, "--leaves", "2", "--spines", "2", "--profile", "a100", "--seed", "3")
    assert "profile a100" in out
    assert re.search(r"^access\s+GPU NIC - leaf\s+32\s+200\b", out, re.M)
    out = run(capsys, "--leaves", "1")
    assert "no cross-leaf traffic" in out


def test_demo_reports_errors(capsys):
    assert main(["--profile", "tpu"]) == 2
    err = capsys.readouterr().err
    assert "unknown name 'tpu'" in err and "h100-ndr400" in err
    assert main(["--oversubscription", "-1"]) == 2
    assert "oversubscription" in capsys.readouterr().err


def test_python_dash_m_demo():
    proc = subprocess.run(
        [sys.executable, "-m", "fabricsim", "demo"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "== cross-leaf permutation" in proc.stdout
