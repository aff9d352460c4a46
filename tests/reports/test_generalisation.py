"""The field's generalisation protocols: the unions they train on, and the tables read back from their rows."""

import pytest

from benchmark.errors import DeepbenchError
from detectors.generalisation import generator_orders, leave_one_family_out, more_generator_unions
from reports.presentation.generalisation import curve_table, leave_out_table, summary_table
from tests.reports.rows import detection_row

GENERATORS = ["dcgan", "ddpm", "sngan", "vae"]  # GAN, diffusion, GAN, VAE


def test_leave_one_family_out_trains_on_every_other_family():
    assert leave_one_family_out(GENERATORS) == {"GAN": "ddpm+vae", "VAE": "dcgan+ddpm+sngan",
                                                "diffusion": "dcgan+sngan+vae"}
    assert leave_one_family_out(["dcgan", "sngan"]) == {}  # one family: nothing to leave out


def test_generator_orders_are_seeded_distinct_and_their_prefixes_are_the_curves_unions():
    orders = generator_orders(GENERATORS, 3, seed=0)
    assert orders == generator_orders(GENERATORS, 3, seed=0) and len({tuple(o) for o in orders}) == 3
    assert all(sorted(order) == GENERATORS for order in orders)
    unions = more_generator_unions(GENERATORS, 1, seed=0)
    first = orders[0]
    assert unions == ["+".join(sorted(first[:count])) for count in (1, 2, 3)]
    assert len(generator_orders(["a", "b"], 5)) == 2  # no more orders than exist
    with pytest.raises(DeepbenchError, match="--generator-orders must be a non-negative integer"):
        generator_orders(GENERATORS, -1)


def zoo_results():
    """Hand-made rows: cnn in distribution at 0.99, across families at 0.6, leave-one-family-out at 0.8, and the
    unions of sizes 1 to 3 evaluated on what they have not seen."""
    rows = [{**detection_row("cnn", g, g, 0.99), "parameters": 960705} for g in GENERATORS]
    rows += [detection_row("cnn", "dcgan", "vae", 0.60), detection_row("cnn", "dcgan", "ddpm", 0.62),
             detection_row("cnn", "dcgan", "sngan", 0.95),  # same family: not a cross-family pair
             detection_row("cnn", "vae", "dcgan", 0.58)]
    for union, held_out in (("ddpm+vae", ["dcgan", "sngan"]), ("dcgan+ddpm+sngan", ["vae"]),
                            ("dcgan+sngan+vae", ["ddpm"])):
        rows += [detection_row("cnn", union, g, 0.80) for g in held_out]
    rows += [detection_row("baseline:spectrum", "ddpm+vae", "dcgan", 0.7)]  # baselines stay out
    return {"generators": [{"generator": g} for g in GENERATORS], "detectors": rows}


def test_the_summary_averages_each_protocol_by_hand():
    summary = summary_table(zoo_results()).set_index("detector")
    assert list(summary.index) == ["cnn"] and summary.loc["cnn", "parameters"] == "960,705"
    assert summary.loc["cnn", "in distribution"].startswith("0.990 ") and "(n=4)" in summary.loc["cnn",
                                                                                              "in distribution"]
    assert summary.loc["cnn", "train on one, other family"].startswith("0.600 [")  # (0.60 + 0.62 + 0.58) / 3
    assert summary.loc["cnn", "leave one family out"].startswith("0.800 ") and "(n=4)" in summary.loc[
        "cnn", "leave one family out"]


def test_leave_out_rows_name_the_held_out_family_and_the_curve_groups_by_training_size():
    table = leave_out_table(zoo_results())
    assert sorted(zip(table["held-out family"], table["evaluated on"], strict=True)) == [
        ("GAN", "dcgan"), ("GAN", "sngan"), ("VAE", "vae"), ("diffusion", "ddpm")]
    curve = curve_table(zoo_results()).set_index("training generators")
    assert list(curve.index) == ["1", "2", "3"]
    assert curve.loc["2", "training sets"] == "1" and curve.loc["2", "mean held-out AUC"].startswith("0.800")
    assert curve.loc["1", "training sets"] == "2"  # dcgan and vae were evaluated on generators they never saw
