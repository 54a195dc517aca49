"""The types skops may build when it loads one of our models: held here, never taken from a model.

A module of its own (no imports) so the inference API loads models without the training stack.
"""

SKOPS_TRUSTED_TYPES: list[str] = [
    "readmission.features.RawRecordFeatures",
    "readmission.calibration.CalibratedClassifier",
    "readmission.calibration.RiskMap",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn.ensemble._gb.VerboseReporter",
    "sklearn.dummy.DummyClassifier",
    "sklearn.model_selection._split.KFold",
    "sklearn.utils._bunch.Bunch",
    "collections.OrderedDict",
]
"""Types skops must trust to save/load our pipelines (custom step, tree internals, the target
encoder's folds, the seed bag's member bunch)."""
