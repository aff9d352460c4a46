"""Quality of a run's synthetic data sets, measured with a small CNN trained on the real data.

For each generator of the run: the domain classifier's KID between its fakes and the real test split
(lower is better), and for conditional generators the share of fakes that the classifier labels as the
class they were asked for (GAN-test accuracy, Shmelkov et al. 2018). Also prints training time per epoch.
Usage: ``python benchmarks/generator_quality.py --run runs/mnist --dataset mnist --data-root ../shared/data``.
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch

from benchmark import data
from benchmark.fakes import MANIFEST
from benchmark.files import load_checkpoint
from benchmark.rundir import RunDir
from reports.metrics.domain import extract_features, kid, predict, train_domain_classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--data-root", default=None)
    args = parser.parse_args()
    train_set = data.load(args.dataset, "train", args.data_root)
    test_set = data.load(args.dataset, "test", args.data_root)
    classifier = train_domain_classifier(train_set)
    real_images, real_labels = test_set.tensors()
    real_accuracy = (predict(classifier, real_images) == real_labels).float().mean().item()
    print(f"classifier trained on {len(train_set)} real {args.dataset} images: "
          f"{real_accuracy:.2%} accuracy on {len(test_set)} real test images")
    real_features = extract_features(classifier, real_images)
    run = RunDir(args.run)
    rows = []
    for name in run.generators():
        if not (run.fakes(name) / MANIFEST).exists():
            continue
        manifest = pd.read_csv(run.fakes(name) / MANIFEST)
        fakes, _ = data.load(f"folder:{run.fakes(name)}", "train").tensors()
        mean, std = kid(real_features, extract_features(classifier, fakes))
        row = {"generator": name, "fakes": len(fakes), "domain KID x1000": f"{1000 * mean:.2f} ± {1000 * std:.2f}"}
        if manifest["label"].notna().all():
            asked = torch.tensor(manifest["label"].astype(int).to_numpy())
            row["GAN-test accuracy"] = f"{(predict(classifier, fakes) == asked).float().mean().item():.2%}"
        state = load_checkpoint(run.checkpoints(name) / "last.pt")
        epochs = state["step"] / (len(train_set) // state["train"]["batch_size"])
        row["s/epoch"] = f"{state['seconds'] / epochs:.0f}"
        row["sampled from"] = f"step {manifest['step'].iloc[0]} of {state['step']}"
        rows.append(row)
    print(pd.DataFrame(rows).to_markdown(index=False) if rows else "no fakes in this run")


if __name__ == "__main__":
    main()
