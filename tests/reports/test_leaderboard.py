"""The committed leaderboard: rendered from result JSONs alone, equal to a golden file, and checked for staleness."""

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from benchmark.files import write_json
from reports.presentation.leaderboard import (
    _auc_cells,
    auc_text,
    bound_decimals,
    stage_seconds,
    transfer_matrices,
    transfer_summary,
)
from tests.reports.rows import detection_row
from tests.tiny_run import invoke

DATA = Path(__file__).parent / "data"


def test_fixed_results_render_the_golden_markdown(tmp_path):
    output = tmp_path / "LEADERBOARD.md"
    result = invoke("report", "--leaderboard", str(DATA / "results"), "-o", str(output))
    assert result.exit_code == 0, result.output
    assert output.read_text() == (DATA / "LEADERBOARD.golden.md").read_text()


def test_detection_figures_carry_intervals_and_say_what_is_not_a_measurement(tmp_path):
    """The golden file's detection rows as read by a person: intervals, an inverted AUC named as such, and the
    warning that a trivial baseline nearly matches the learned detector."""
    text = (DATA / "LEADERBOARD.golden.md").read_text()
    assert "| 0.999 [0.998, 1.000] " in text and "| 0.988 [0.98, 1.00] " in text  # the wider, to two decimals
    assert "0.312 (inverted) [0.29, 0.33]" in text
    assert "Shortcut warning: on dcgan fakes, baseline:histogram (trained on dcgan) reaches AUC 0.987" in text
    assert "baseline:histogram" not in text.split("**Robustness")[1].split("\n\n>")[0]  # networks only
    assert "Detection, matched protocol" in text  # the headline, with the raw protocol beside it:
    assert re.search(r"\| cnn +\| dcgan +\| dcgan +\| 1\.000 +\| 0\.999 +\|", text)


def test_check_passes_on_a_fresh_file_and_fails_on_a_stale_one(tmp_path):
    output = tmp_path / "LEADERBOARD.md"
    shutil.copy(DATA / "LEADERBOARD.golden.md", output)
    fresh = invoke("report", "--leaderboard", str(DATA / "results"), "-o", str(output), "--check")
    assert fresh.exit_code == 0 and "up to date" in fresh.output
    output.write_text(output.read_text().replace("12.35", "11.35"))
    stale = invoke("report", "--leaderboard", str(DATA / "results"), "-o", str(output), "--check")
    assert stale.exit_code == 2 and "is stale" in stale.output
    assert "11.35" in output.read_text()  # --check never writes


def test_a_study_gets_its_section_and_the_check_sees_it_change(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(DATA / "results", results)
    study = {"description": "Two discriminators, three seeds.", "summary_caption": "Test metrics over seeds",
             "summary": [{"generator": "dcgan", "fid": "63.7 [58.8, 68.6]"},
                         {"generator": "capsgan", "fid": "143 [122, 164]"}],
             "gam": [{"A": "capsgan", "B": "dcgan", "seed": 0, "r_test": float("inf"), "r_samples": 1.0,
                      "winner": "none", "error A on reals": 0.1}]}
    write_json(results / "capsules" / "summary.json", study, "study")
    with (results / "manifest.toml").open("a") as manifest:  # every committed file says how it is made
        manifest.write('\n[capsules]\nfiles = ["capsules/summary.json"]\ncommands = ["by hand"]\nthreads = 1\n'
                       'device = "cpu"\nprotocols = []\n')
    output = tmp_path / "LEADERBOARD.md"
    assert invoke("report", "--leaderboard", str(results), "-o", str(output)).exit_code == 0
    section = output.read_text().split("## capsules\n")[1]
    assert section.startswith("\nTwo discriminators, three seeds.\n\n**Test metrics over seeds**:")
    assert re.search(r"\| capsgan +\| 143 \[122, 164\] +\|", section)
    assert re.search(r"\| capsgan +\| dcgan +\| 0 +\| ∞ +\| 1\.000 +\| none +\|", section)  # inf is null in JSON
    assert "error A on reals" not in section  # the verdict's columns only
    study["summary"][1]["fid"] = "150 [122, 164]"
    write_json(results / "capsules" / "summary.json", study, "study")
    stale = invoke("report", "--leaderboard", str(results), "-o", str(output), "--check")
    assert stale.exit_code == 2 and "is stale" in stale.output


def test_check_fails_when_the_file_is_missing(tmp_path):
    result = invoke("report", "--leaderboard", str(DATA / "results"), "-o", str(tmp_path / "none.md"), "--check")
    assert result.exit_code == 2 and "is stale" in result.output


def test_a_results_file_of_another_schema_is_refused(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "old.json").write_text('{"schema": "deepbench.results/0", "name": "old"}')
    result = invoke("report", "--leaderboard", str(folder), "-o", str(tmp_path / "out.md"))
    assert result.exit_code == 2 and "old.json" in result.output
    assert not (tmp_path / "out.md").exists()


def test_an_empty_results_folder_names_the_export_command(tmp_path):
    result = invoke("report", "--leaderboard", str(tmp_path), "-o", str(tmp_path / "out.md"))
    assert result.exit_code == 2 and "--export" in result.output


def test_contradictory_options_are_refused():
    assert "exactly one of" in invoke("report").output
    assert "exactly one of" in invoke("report", "--run", "a", "--leaderboard", "b", "-o", "c").output
    assert "--check and --findings go with --leaderboard" in invoke("report", "--run", "a", "--check").output


def test_stage_time_is_the_latest_finished_run_of_each_stage():
    def stage(command, started, finished):
        return {"command": command, "started": f"2026-01-01T00:{started:02d}:00+00:00",
                "finished": None if finished is None else f"2026-01-01T00:{finished:02d}:00+00:00"}

    record = {"stages": [stage("generate", 0, 10), stage("detect", 10, 40), stage("detect", 40, None),
                         stage("detect", 45, 50), stage("report", 50, 51)]}
    assert stage_seconds(record) == {"generate": 600.0, "detect": 300.0, "report": 60.0}  # detect was redone


@pytest.mark.parametrize(("auc", "interval", "shown"), [
    (0.494, [0.455, 0.533], "0.494 (chance)"),  # below 0.5, but so is chance
    (0.500, [0.500, 0.500], "0.500 (chance)"),
    (0.480, [0.410, 0.499], "0.480 (inverted)"),  # the whole interval below 0.5
    (0.530, [0.505, 0.560], "0.530"),
    (0.420, None, "0.420"),  # no interval: no verdict
    (None, [0.4, 0.6], "—"),
])
def test_an_auc_is_called_inverted_or_chance_only_by_its_interval(auc, interval, shown):
    assert auc_text(auc, interval) == shown


def test_bootstrap_bounds_keep_only_the_decimals_their_resampling_fixes():
    """At 200 resamples a 95% percentile bound's Monte-Carlo error is about a fifth of the bootstrap's standard
    deviation: a third decimal is kept for an interval 0.002 wide, not for one 0.03 wide, and a bound is rounded
    outward."""
    assert bound_decimals([0.998, 1.000]) == 3 and bound_decimals([0.296, 0.329]) == 2
    assert bound_decimals([0.64, 0.78]) == 1 and bound_decimals([0.64, 0.78], resamples=100_000) == 3
    rows = [detection_row("cnn", "dcgan", "dcgan", 0.312)]
    rows[0]["auc_ci"] = [0.2961, 0.3289]
    [shown] = _auc_cells(pd.DataFrame(rows))
    assert shown == "0.312 (inverted) [0.29, 0.33]"


def test_the_cross_generator_matrix_puts_each_auc_in_its_row_and_column_and_the_summary_averages_by_family():
    """Rows: the generator the detector was trained on; columns: the fakes it was evaluated on. The family
    summary leaves the diagonal out and averages pairs of different generators by hand-checked figures; fakes
    made elsewhere are their own family; a baseline, another protocol or a perturbation never enters."""
    rows = [detection_row("cnn", trained, evaluated, auc) for trained, evaluated, auc in [
        ("dcgan", "dcgan", 0.99), ("dcgan", "sngan", 0.90), ("dcgan", "vae", 0.70), ("dcgan", "ddpm", 0.40),
        ("sngan", "dcgan", 0.80), ("sngan", "sngan", 0.98), ("sngan", "vae", 0.60), ("sngan", "ddpm", 0.50),
        ("vae", "vae", 0.97), ("vae", "dcgan", 0.55), ("vae", "photos", 0.65)]]
    rows += [detection_row("baseline:spectrum", "dcgan", "vae", 0.1), detection_row("cnn", "dcgan", "vae", 0.3, "raw"),
             detection_row("cnn", "dcgan", "vae", 0.2, perturbation="jpeg75")]
    results = {"generators": [], "detectors": rows}
    [(name, matrix)] = transfer_matrices(results)
    assert name == "cnn (standard training)"
    assert list(matrix.columns) == ["trained on \\ evaluated on", "dcgan", "sngan", "vae", "ddpm", "photos"]
    assert matrix.iloc[0].tolist() == ["dcgan", "0.990 [0.98, 1.00]", "0.900 [0.89, 0.91]",
                                       "0.700 [0.69, 0.71]", "0.400 (inverted) [0.39, 0.41]", "—"]
    assert matrix.iloc[2].tolist()[:2] == ["vae", "0.550 [0.54, 0.56]"]
    summary = transfer_summary(results)
    assert set(summary["detector"]) == {name}  # the summary names a detector as its matrix does
    summary = summary.set_index(["trained on (family)", "evaluated on (family)"])
    assert summary.loc[("GAN", "GAN"), "generator pairs"] == "2"  # dcgan->sngan and sngan->dcgan
    assert summary.loc[("GAN", "GAN"), "mean AUC"] == "0.850"
    assert summary.loc[("GAN", "VAE"), "mean AUC"] == "0.650" and summary.loc[("GAN", "VAE"), "range"] == "0.600–0.700"
    assert summary.loc[("GAN", "diffusion"), "mean AUC"] == "0.450"  # no interval, so no label
    assert summary.loc[("VAE", "GAN"), "mean AUC"] == "0.550" and summary.loc[("VAE", "other"), "mean AUC"] == "0.650"
    assert ("VAE", "VAE") not in summary.index
    in_distribution_only = {"generators": [], "detectors": [detection_row("cnn", "dcgan", "dcgan", 0.9)]}
    assert transfer_matrices(in_distribution_only) == [] and transfer_summary(in_distribution_only).empty


def test_training_seeds_collapse_into_their_mean_with_the_across_seed_interval():
    """Three seeds of cnn@dcgan: one row, the mean AUC, the mean of the bootstrap bounds, the t-interval across
    seeds; a ceiling in any seed marks the row, and the table shows the interval and the flag."""
    from reports.presentation.leaderboard import detections, readable_tables
    rows = [{**detection_row("cnn", "dcgan", "dcgan", auc), "accuracy": auc, "training_seed": seed,
             "training_ended": ended, "training_epochs": 12}
            for seed, auc, ended in ((0, 0.90, "converged"), (1, 0.92, "ceiling"), (2, 0.94, "converged"))]
    rows.append({**detection_row("baseline:histogram", "dcgan", "dcgan", 0.6), "accuracy": 0.6})
    results = {"generators": [], "detectors": rows}
    frame = detections(results)
    cnn = frame[frame["detector"] == "cnn"].iloc[0]
    assert len(frame) == 2 and cnn["seeds"] == 3 and abs(cnn["auc"] - 0.92) < 1e-12
    assert cnn["auc_ci"] == [0.91, 0.93] or abs(cnn["auc_ci"][0] - 0.91) < 1e-12
    assert abs(cnn["auc_seed_ci"][0] - 0.870317) < 1e-6 and cnn["training_ended"] == "ceiling"
    table = dict(readable_tables(results))
    detection = next(t for caption, t in table.items() if caption.startswith("Detection"))
    shown = detection[detection["detector"] == "cnn"].iloc[0]
    assert shown["AUC over seeds [95% CI]"] == "0.920 [0.870, 0.970] (n=3)" and shown["converged"] == "no (ceiling)"
    assert detection[detection["detector"] != "cnn"].iloc[0]["AUC over seeds [95% CI]"] == "—"


def test_the_seed_interval_of_an_auc_stops_at_one():
    from reports.presentation.leaderboard import detections
    rows = [{**detection_row("cnn", "dcgan", "dcgan", auc), "training_seed": seed}
            for seed, auc in ((0, 0.999), (1, 0.990), (2, 0.999))]
    assert detections({"detectors": rows}).iloc[0]["auc_seed_ci"][1] == 1.0
