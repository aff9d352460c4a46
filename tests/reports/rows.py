"""Detection rows as a report's results hold them, for tables and plots built from hand-made results."""


def detection_row(detector, trained_on, evaluated_on, auc, protocol="matched", perturbation="none"):
    return {"detector": detector, "train_generator": trained_on, "eval_set": evaluated_on, "auc": auc,
            "auc_ci": [auc - 0.01, auc + 0.01], "protocol": protocol, "perturbation": perturbation, "n_real": 200,
            "n_fake": 180}
