"""Training pipeline: ``python -m training STAGE`` (see ``__main__``)."""

# The stages in the order ``python -m training all`` runs them (and the report lists their times).
STAGES = ("data", "train", "finetune", "adapt", "export", "lm", "evaluate")
