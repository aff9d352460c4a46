"""Findings pages: prose whose numbers come from the committed JSON, checked for staleness like the leaderboard."""

import json
import shutil
from pathlib import Path

import pytest

from benchmark.errors import DeepbenchError
from reports.presentation.findings import auc, differ, over_seeds, render_findings, update_findings, verdict
from tests.reports.rows import detection_row
from tests.tiny_run import invoke

DATA = Path(__file__).parent / "data"
TEMPLATE = """{%- set small = results["mnist-small"] -%}
`cnn` catches DCGAN's own fakes at {{ auc(detection(small, "cnn", "dcgan", "dcgan")) }} and CapsGAN's at
{{ auc(detection(small, "cnn", "dcgan", "capsgan")) }};
DCGAN's FID is {{ number(generator(small, "dcgan").fid, ".1f") }}.
"""


@pytest.fixture
def folders(tmp_path):
    results, pages = tmp_path / "results", tmp_path / "findings"
    shutil.copytree(DATA / "results", results)
    pages.mkdir()
    (pages / "small.md.j2").write_text(TEMPLATE)
    return results, pages


def test_a_finding_renders_its_numbers_from_the_json_and_the_check_sees_them_change(folders):
    results, pages = folders
    [page] = update_findings(pages, results)
    text = page.read_text()
    assert page.name == "small.md" and "edit the template" in text.splitlines()[0]
    assert "DCGAN's own fakes at 0.999 [0.998, 1.000]" in text
    assert "CapsGAN's at\n0.312 (inverted) [0.296, 0.329]" in text
    update_findings(pages, results, check=True)  # fresh: passes
    record = json.loads((results / "mnist-small.json").read_text())
    record["detectors"][0]["auc"] = 0.95  # a figure moves, the prose must follow
    (results / "mnist-small.json").write_text(json.dumps(record))
    with pytest.raises(DeepbenchError, match=r"small.md stale: they differ from what their templates"):
        update_findings(pages, results, check=True)
    assert page.read_text() == text  # the check writes nothing


def test_a_finding_about_data_that_is_not_there_does_not_render(folders):
    results, pages = folders
    (pages / "small.md.j2").write_text('{{ auc(detection(results["mnist-small"], "cnn", "dcgan", "sngan")) }}')
    with pytest.raises(DeepbenchError, match="no single detection row for cnn trained on dcgan, evaluated on sngan"):
        render_findings(pages, results)
    (pages / "small.md.j2").write_text('{{ results["zoo"].seed }}')  # a result that was never committed
    with pytest.raises(DeepbenchError, match="small.md.j2 does not render"):
        render_findings(pages, results)


def test_the_report_command_renders_and_checks_findings_beside_the_leaderboard(folders, tmp_path):
    results, pages = folders
    board = tmp_path / "LEADERBOARD.md"
    written = invoke("report", "--leaderboard", str(results), "-o", str(board), "--findings", str(pages))
    assert written.exit_code == 0 and "1 findings pages" in written.output
    (pages / "small.md").write_text("edited by hand\n")
    stale = invoke("report", "--leaderboard", str(results), "-o", str(board), "--findings", str(pages), "--check")
    assert stale.exit_code == 2 and "small.md stale" in stale.output
    alone = invoke("report", "--run", str(tmp_path), "--findings", str(pages))
    assert alone.exit_code == 2 and "--findings go with --leaderboard" in alone.output


def seeded(auc_value, low, high, seeds=3):
    row = detection_row("cnn", "dcgan", "sngan", auc_value)
    return {**row, "seeds": seeds, "auc_seed_ci": [low, high]}


def test_verdicts_and_comparisons_go_by_the_across_seed_interval():
    assert verdict(seeded(0.47, 0.44, 0.51)) == "chance" and verdict(seeded(0.40, 0.35, 0.45)) == "inverted"
    assert verdict(seeded(0.60, 0.55, 0.65)) == "above chance"
    assert auc(seeded(0.40, 0.35, 0.45)) == "0.400 (inverted) [0.350, 0.450, 3 seeds]"
    one_seed = detection_row("cnn", "dcgan", "sngan", 0.48)  # bootstrap interval [0.47, 0.49]
    assert verdict(one_seed) == "inverted" and auc(one_seed).endswith("[0.470, 0.490]")
    assert differ(seeded(0.9, 0.85, 0.95), seeded(0.7, 0.6, 0.8)) and not differ(seeded(0.9, 0.8, 0.95),
                                                                                seeded(0.85, 0.7, 0.9))
    assert over_seeds([1.0, 2.0, 3.0], ".2f") == "2.00 [-0.48, 4.48]"  # t(0.975, 2) = 4.303, sd 1
