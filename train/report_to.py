"""`sft.report_to`: each integration named is one transformers has, and its package is installed,
checked before training starts (the trainer finds a missing one only as it is built, with a traceback)."""

from __future__ import annotations

from glade.config import fail
from glade.env.schema import did_you_mean

# `sft.report_to` integrations -> (modules, any of which serves it; what to pip install). The trainer
# finds a missing one only as it is built, after the data is prepared, with a traceback; integrations
# not named here are left to it.
REPORTERS = {
    "wandb": (("wandb",), "wandb"),
    "tensorboard": (("tensorboard", "tensorboardX"), "tensorboard"),
    "comet_ml": (("comet_ml",), "comet-ml"),
    "mlflow": (("mlflow",), "mlflow"),
    "neptune": (("neptune",), "neptune"),
    "trackio": (("trackio",), "trackio"),
    "clearml": (("clearml",), "clearml"),
    "codecarbon": (("codecarbon",), "codecarbon"),
    "dvclive": (("dvclive",), "dvclive"),
    "swanlab": (("swanlab",), "swanlab"),
    "flyte": (("flytekit",), "flytekit"),
    "azure_ml": (("azureml",), "azureml-core"),
}


def check_reporters(report_to, source: str | None) -> None:
    """Each `sft.report_to` name is an integration transformers has (its own list: a misspelt one
    would pass here and fail only as the trainer is built), and each glade knows the package of is
    installed (looked up, not imported: importing wandb or tensorboard takes seconds)."""
    import importlib.util

    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    known = [*INTEGRATION_TO_CALLBACK, "all", "none"]
    names = [report_to] if isinstance(report_to, str) else list(report_to or ())
    for name in names:
        if name not in known:
            fail(
                source,
                "sft.report_to",
                f"unknown integration {name!r} (known: {', '.join(known)})" + did_you_mean(name, known),
            )
        modules, package = REPORTERS.get(name, ((), ""))
        if modules and all(importlib.util.find_spec(m) is None for m in modules):
            fail(
                source,
                "sft.report_to",
                f"{name} needs the {package} package, which is not installed: pip install {package}, "
                "or drop sft.report_to (report_to: none logs nowhere)",
            )
    if len(names) > 1 and {"all", "none"} & set(names):  # transformers takes them only alone
        fail(
            source,
            "sft.report_to",
            f"{' and '.join(n for n in ('all', 'none') if n in names)} stands alone (report_to: all, or "
            "report_to: none), not in a list with other integrations",
        )
