"""The ``asd`` command line: synth, summary, evaluate, and clear errors."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from asdlib.cli import main


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "data"
    assert main(["synth", "--preset", "ci", "--types", "gearbox", "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    return out


def test_synth_then_summary_counts_and_labels_synthetic(tiny, capsys):
    capsys.readouterr()
    assert main(["summary", str(tiny)]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "preset 'ci'" in out
    assert "132 clips, 1 machine types, 60 training / 72 test" in out  # 6 sections x (8+2 train, 12 test)
    assert "tooth-crack" in out and "attributes: volt, wt" in out


def test_synth_2025_then_summary_reads_the_year_hidden_attributes_and_supplemental(tmp_path, capsys):
    out = tmp_path / "y2025"
    assert main(["synth", "--year", "2025", "--preset", "ci", "--types", "gearbox", "AutoTrash", "--out", str(out),
                 "--jobs", "1", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["summary", str(out)]) == 0  # the year comes from synth.json
    text = capsys.readouterr().out
    assert "DCASE 2025 layout, SYNTHETIC" in text
    # 2 types x (8 + 2 train, 12 test, 2 + 2 supplemental): the supplemental clips are neither
    assert "52 clips, 2 machine types, 20 training / 24 test" in text
    # both types hide their attributes in their names; the published tables reveal them
    assert "attributes: ac, vel, volt, wt" in text and "AutoTrash (the slider sound model): no-grease" in text


def test_summary_of_a_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["summary", str(tmp_path / "nowhere")]) == 2
    assert "data root does not exist" in capsys.readouterr().err


def test_synth_refuses_to_overwrite_a_different_set(tiny, capsys):
    assert main(["synth", "--preset", "ci", "--seed", "5", "--types", "gearbox", "--out", str(tiny), "--quiet"]) == 2
    assert "holds a different synthetic data set" in capsys.readouterr().err


def test_evaluate_reads_official_csvs(tmp_path, capsys):
    gt = tmp_path / "gt"
    (gt / "ground_truth_data").mkdir(parents=True)
    (gt / "ground_truth_domain").mkdir()
    names = [f"section_03_{i:04d}.wav" for i in range(8)]
    labels = [0, 1, 0, 1, 0, 1, 0, 1]
    domains = [0, 0, 0, 0, 1, 1, 1, 1]
    (gt / "ground_truth_data" / "ground_truth_fan_section_03_test.csv").write_text(
        "".join(f"{n},{v}\n" for n, v in zip(names, labels)))
    (gt / "ground_truth_domain" / "ground_truth_fan_section_03_test.csv").write_text(
        "".join(f"{n},{v}\n" for n, v in zip(names, domains)))
    scores = tmp_path / "scores"
    scores.mkdir()
    # a perfect scorer, written in shuffled order: the join is by file name
    rows = pd.DataFrame({"f": names, "s": [float(v) + i * 0.01 for i, v in enumerate(labels)]}).sample(frac=1, random_state=0)
    (scores / "anomaly_score_fan_section_03_test.csv").write_text(
        "".join(f"{f},{s}\n" for f, s in zip(rows["f"], rows["s"])))
    assert main(["evaluate", str(scores), "--ground-truth", str(gt)]) == 0
    assert "official score: 1.0000" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["results", "--help"], ["summary", "DATA"], ["evaluate", "--help"],
                                  ["run", "--help"]])
def test_reading_commands_import_no_torch(tiny, argv):
    """asd results, summary and evaluate (and run's planning) work on records and files: torch,
    torchaudio and zuko stay unimported (they take seconds to load)."""
    argv = [str(tiny) if a == "DATA" else a for a in argv]
    code = ("import sys\nfrom asdlib.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "print('LOADED', sorted(m for m in ('torch', 'torchaudio', 'zuko') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "LOADED []" in done.stdout, done.stdout[-500:] + done.stderr[-2000:]
