"""A per-record fast path compiled from a fitted ``Pipeline([features, encode, model])``.

The logged model is the source of truth; this module only re-expresses its
fitted parameters so that one record is scored without a pandas DataFrame:

* ``features.engineer_record`` (the same code the ``RawRecordFeatures`` step runs);
* the fitted ``ColumnTransformer`` compiled into numeric ops (the logistic
  model's ``StandardScaler``, or passthrough) and, for categorical blocks, lookup
  tables obtained by *probing* the fitted encoder itself with every level (so every
  encoder option, ``handle_unknown`` and infrequent categories included, is reproduced);
* the classifier as a dot product (logistic regression) or as generated Python
  code of its trees (the GradientBoosting baseline, histogram gradient boosting),
  summed in sklearn's order; a soft ``VotingClassifier`` of histogram gradient
  boostings (the seed bag) as the mean of its members' probabilities, in one
  generated function; a calibrated model as its classifier then its risk map.

Only what ``readmission.modeling`` trains is compiled. Anything else falls back
(:class:`Mode`): to the classifier's own ``predict_proba`` on a 2-D array, or to
the whole pipeline. ``FastPredictor.verify`` compares the paths on synthetic
records; a mismatch disables the fast path.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, VotingClassifier
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from readmission import codes, features, schema

logger = logging.getLogger(__name__)

MAX_TREE_DEPTH = 60
MAX_TREE_NODES = 400_000
_UNSEEN = "\x00unseen\x00"


class Mode(StrEnum):
    """How a :class:`FastPredictor` scores."""

    COMPILED = "compiled"
    """One record: compiled encoder and generated classifier code; many: compiled encoder, classifier on arrays."""
    ENCODED = "encoded"
    """Compiled encoder; the classifier's own ``predict_proba`` on arrays (a classifier the compiler does not know)."""
    PIPELINE = "pipeline"
    """The logged pipeline itself (a model the compiler does not know, or one that failed its self-check)."""


class UnsupportedModelError(Exception):
    """The compiler does not know this part of the model (the caller falls back)."""


class UnknownCategoryError(ValueError):
    """A categorical value the fitted encoder rejects (the logged model would fail too)."""


# --------------------------------------------------------------------------- feature domains


def _feature_domains() -> dict[str, list[str]]:
    """Every value ``engineer_record`` can produce for each categorical feature (open sets excepted)."""
    unknown = codes.UNKNOWN
    return {
        "race": [*schema.RACES, unknown],
        "gender": ["Female", "Male", unknown],
        "admission_type": sorted({*codes.ADMISSION_TYPE_GROUPS.values(), unknown}),
        "admission_source": sorted({*codes.ADMISSION_SOURCE_GROUPS.values(), unknown}),
        "discharge_disposition": sorted({*codes.DISCHARGE_GROUPS.values(), unknown}),
        "medical_specialty": [unknown],
        **{f"diag_{i}_group": list(codes.ICD9_GROUPS) for i in (1, 2, 3)},
        "insulin": list(schema.MEDICATION_LEVELS),
        "metformin": list(schema.MEDICATION_LEVELS),
        **{f"diag_{i}_code": [codes.MISSING_DIAGNOSIS] for i in (1, 2, 3)},
        **{code: [str(c) for c in sorted(schema.allowed_codes(column))] for column, _, code in codes.ID_FEATURES},
    }


def _encoder_categories(transformer: Any, columns: Sequence[str]) -> dict[str, list[Any]]:
    """Categories a fitted (possibly pipelined) encoder knows, by input column."""
    last = transformer.steps[-1][1] if isinstance(transformer, Pipeline) else transformer
    categories = getattr(last, "categories_", None)
    if categories is None or len(categories) != len(columns):
        return {}
    return {column: [c for c in cats if isinstance(c, str)] for column, cats in zip(columns, categories, strict=True)}


# --------------------------------------------------------------------------- the encoder


def _dense(values: Any) -> np.ndarray:
    if hasattr(values, "toarray"):
        values = values.toarray()
    return np.asarray(values, dtype=np.float64)


def _numeric_ops(transformer: Any) -> list[tuple[str, np.ndarray]]:
    """Elementwise ops equal to a fitted numeric transformer (passthrough or ``StandardScaler``)."""
    if transformer == "passthrough" or (isinstance(transformer, FunctionTransformer) and transformer.func is None):
        return []  # a fitted ColumnTransformer holds its passthrough as an identity FunctionTransformer
    if isinstance(transformer, StandardScaler):
        ops = []
        if transformer.with_mean:
            ops.append(("sub", np.asarray(transformer.mean_, dtype=np.float64)))
        if transformer.with_std:
            ops.append(("div", np.asarray(transformer.scale_, dtype=np.float64)))
        return ops
    raise UnsupportedModelError(f"numeric transformer {type(transformer).__name__}")


class _CategoricalBlock:
    """Lookup tables of one categorical transformer, one per input column."""

    def __init__(self, transformer: Any, columns: list[str], out: slice) -> None:
        domains = _feature_domains()
        known = _encoder_categories(transformer, columns)
        values: dict[str, list[Any]] = {}
        for column in columns:
            merged = list(dict.fromkeys([*domains.get(column, []), *known.get(column, [])]))
            if not merged:
                raise UnsupportedModelError(f"no known levels for {column}")
            values[column] = merged
        base_row = {column: values[column][0] for column in columns}
        probes = [base_row] + [base_row | {c: v} for c in columns for v in values[c]]
        try:
            outputs = _dense(transformer.transform(pd.DataFrame(probes, columns=columns, dtype=object)))
        except Exception as error:
            raise UnsupportedModelError(f"probing {type(transformer).__name__} failed: {error}") from error
        base = outputs[0]
        self.columns = columns
        self.base = base
        self.start = out.start
        self.tables: list[tuple[str, np.ndarray, dict[Any, np.ndarray], np.ndarray | None]] = []
        taken: set[int] = set()
        position = 1
        for column in columns:
            block_outputs = outputs[position : position + len(values[column])]
            position += len(values[column])
            changed = np.flatnonzero((block_outputs != base).any(axis=0))
            unseen = self._probe_unseen(transformer, columns, base_row, column, changed)
            if unseen is not None and (unseen != base).any():
                changed = np.union1d(changed, np.flatnonzero(unseen != base))
            if taken.intersection(changed.tolist()):
                raise UnsupportedModelError("encoder output is not separable by column")
            taken.update(changed.tolist())
            table = {v: row[changed].copy() for v, row in zip(values[column], block_outputs, strict=True)}
            self.tables.append((column, changed + out.start, table, None if unseen is None else unseen[changed]))
        # for one record: the base row as a list and, per level, only the cells that differ from it
        self.base_list = base.tolist()
        self.changes = [
            (
                column,
                {v: self._differences(index, e) for v, e in table.items()},
                None if unseen is None else self._differences(index, unseen),
            )
            for column, index, table, unseen in self.tables
        ]

    def _differences(self, index: np.ndarray, encoded: np.ndarray) -> list[tuple[int, float]]:
        return [
            (int(position), float(value))
            for position, value in zip(index, encoded, strict=True)
            if value != self.base[position - self.start]
        ]

    @staticmethod
    def _probe_unseen(
        transformer: Any, columns: list[str], base_row: dict[str, Any], column: str, changed: np.ndarray
    ) -> np.ndarray | None:
        frame = pd.DataFrame([base_row | {column: _UNSEEN}], columns=columns, dtype=object)
        try:
            return _dense(transformer.transform(frame))[0]
        except Exception:  # the encoder rejects unknown levels, as the logged model would
            return None

    def fill(self, row: list[float], record: Mapping[str, Any]) -> None:
        row[self.start : self.start + len(self.base_list)] = self.base_list
        for column, table, unseen in self.changes:
            value = record[column]
            changes = table.get(value)
            if changes is None:
                if unseen is None:
                    raise UnknownCategoryError(f"{column} {value!r} is not a level the model knows")
                changes = unseen
            for position, number in changes:
                row[position] = number

    def fill_many(self, out: np.ndarray, frame: pd.DataFrame) -> None:
        """The block's columns of ``out`` (n rows) from engineered features: one lookup per distinct value."""
        out[:, self.start : self.start + len(self.base)] = self.base
        for column, index, table, unseen in self.tables:
            codes, uniques = pd.factorize(frame[column], use_na_sentinel=False)
            rows = []
            for value in uniques:
                encoded = table.get(value)
                if encoded is None:
                    if unseen is None:
                        raise UnknownCategoryError(f"{column} {value!r} is not a level the model knows")
                    encoded = unseen
                rows.append(encoded)
            if rows:
                out[:, index] = np.stack(rows)[codes]


class CompiledEncoder:
    """A fitted ``ColumnTransformer`` as numeric ops and lookup tables into one float64 row."""

    def __init__(self, transformer: Any) -> None:
        if not isinstance(transformer, ColumnTransformer):
            raise UnsupportedModelError(f"encoder {type(transformer).__name__}")
        feature_names = list(features.FEATURE_COLUMNS)
        self.width = int(sum(s.stop - s.start for s in transformer.output_indices_.values()))
        self.numeric: list[tuple[list[str], slice, list[tuple[str, np.ndarray]]]] = []
        self.categorical: list[_CategoricalBlock] = []
        for name, fitted, spec in transformer.transformers_:
            out = transformer.output_indices_[name]
            if fitted == "drop" or out.stop == out.start:
                continue
            columns = _column_names(spec, feature_names)
            if all(c in features.NUMERIC_FEATURES for c in columns):
                self.numeric.append((columns, out, _numeric_ops(fitted)))
            elif all(c in features.CATEGORICAL_FEATURES for c in columns) and fitted != "passthrough":
                self.categorical.append(_CategoricalBlock(fitted, columns, out))
            else:
                raise UnsupportedModelError(f"transformer {name!r} mixes numeric and categorical columns")

    def encode(self, record: Mapping[str, Any]) -> list[float]:
        """The encoded row of one engineered record, as a list (Python floats are what generated code reads fastest)."""
        row = [0.0] * self.width
        for columns, out, ops in self.numeric:
            values = [float(record[c]) for c in columns]
            row[out] = _apply(ops, np.array(values, dtype=np.float64)).tolist() if ops else values
        for block in self.categorical:
            block.fill(row, record)
        return row

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """The encoded rows (2-D, float64) of engineered records: what the fitted transformer returns."""
        out = np.empty((len(frame), self.width), dtype=np.float64)
        for columns, where, ops in self.numeric:
            out[:, where] = _apply(ops, frame[columns].to_numpy(dtype=np.float64, copy=True))
        for block in self.categorical:
            block.fill_many(out, frame)
        return out


def _apply(ops: list[tuple[str, np.ndarray]], values: np.ndarray) -> np.ndarray:
    """The numeric ops, in place, in sklearn's order (rows broadcast against per-column parameters)."""
    for op, param in ops:
        if op == "sub":
            values -= param
        else:  # div
            values /= param
    return values


def _column_names(spec: Any, feature_names: list[str]) -> list[str]:
    if isinstance(spec, str):
        return [spec]
    items = list(spec)
    if all(isinstance(item, str) for item in items):
        return items
    if all(isinstance(item, int | np.integer) and not isinstance(item, bool) for item in items):
        return [feature_names[int(i)] for i in items]
    raise UnsupportedModelError(f"column selection {spec!r}")


# --------------------------------------------------------------------------- the classifier

Scorer = Callable[[list[float]], float]
"""From one encoded row (a list of floats) to the positive-class probability."""


def _positive_index(classifier: Any) -> int:
    classes = list(getattr(classifier, "classes_", [0, 1]))
    if len(classes) != 2:
        raise UnsupportedModelError("not a binary classifier")
    return 1


class _TreeCode:
    """Generated Python source of tree ensembles (nested ifs adding leaf values)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.nodes = 0
        self.features: set[int] = set()

    def add_tree(
        self,
        left: np.ndarray,
        right: np.ndarray,
        feature: np.ndarray,
        threshold: np.ndarray,
        missing_left: np.ndarray,
        leaf_value: np.ndarray,
        is_leaf: np.ndarray,
    ) -> None:
        self.nodes += len(left)
        if self.nodes > MAX_TREE_NODES:
            raise UnsupportedModelError("too many tree nodes to generate code")
        stack: list[tuple[int, int]] = [(0, 1)]
        while stack:  # iterative pre-order walk; an int marks a node, -1 an 'else:'
            node, depth = stack.pop()
            if depth > MAX_TREE_DEPTH:
                raise UnsupportedModelError("tree too deep to generate code")
            pad = " " * depth
            if node < 0:
                self.lines.append(f"{pad}else:")
                continue
            if is_leaf[node]:
                self.lines.append(f"{pad}acc += {float(leaf_value[node])!r}")
                continue
            f, t = int(feature[node]), float(threshold[node])
            self.features.add(f)
            condition = f"not (x{f} > {t!r})" if missing_left[node] else f"x{f} <= {t!r}"
            self.lines.append(f"{pad}if {condition}:")
            stack.append((int(right[node]), depth + 1))
            stack.append((-1, depth))
            stack.append((int(left[node]), depth + 1))

    def compile(self, head: str, tail: str) -> Callable[..., float]:
        names = ", ".join(f"x{i}" for i in sorted(self.features)) or "_"
        picks = ", ".join(f"x[{i}]" for i in sorted(self.features)) or "0.0"
        source = "\n".join(
            [
                "def score(x):",
                f" {names}, = ({picks},)",
                f" {head}",
                *self.lines,
                f" {tail}",
            ]
        )
        namespace: dict[str, Any] = {"inf": math.inf, "sigmoid": _sigmoid}
        exec(compile(source, "<compiled trees>", "exec"), namespace)  # noqa: S102 - generated from fitted numbers
        score: Callable[..., float] = namespace["score"]
        return score


def _float32(row: list[float]) -> list[float]:
    """The row rounded as sklearn's trees read it (their thresholds are float32)."""
    return np.asarray(row, dtype=np.float32).tolist()


def _sigmoid(value: float) -> float:
    """scipy's ``expit`` for one Python float, without the ufunc call."""
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    small = math.exp(value)
    return small / (1.0 + small)


def _add_hist_gb(code: _TreeCode, classifier: Any) -> None:
    """``acc = <baseline>`` then every tree of a binary, numeric HistGradientBoosting adding to ``acc``."""
    if classifier.n_trees_per_iteration_ != 1 or (
        classifier.is_categorical_ is not None and classifier.is_categorical_.any()
    ):
        raise UnsupportedModelError("multi-class or categorical HistGradientBoosting")
    code.lines.append(f" acc = 0.0 + {float(np.asarray(classifier._baseline_prediction).ravel()[0])!r}")
    for (predictor,) in classifier._predictors:
        nodes = predictor.nodes
        code.add_tree(
            nodes["left"],
            nodes["right"],
            nodes["feature_idx"],
            nodes["num_threshold"],
            nodes["missing_go_to_left"],
            nodes["value"],
            nodes["is_leaf"].astype(bool),
        )


def _sklearn_tree(code: _TreeCode, tree: Any, leaf_value: np.ndarray) -> None:
    missing = getattr(tree, "missing_go_to_left", np.zeros(tree.node_count, dtype=np.uint8))
    left = tree.children_left
    code.add_tree(left, tree.children_right, tree.feature, tree.threshold, missing, leaf_value, left == -1)


def _compile_classifier(classifier: Any) -> tuple[Scorer, str]:
    """A function from one encoded row to the positive-class probability, and its kind."""
    _positive_index(classifier)
    if isinstance(classifier, VotingClassifier):
        if classifier.voting != "soft" or classifier.weights is not None:
            raise UnsupportedModelError("hard or weighted voting")
        members = [m.estimator if isinstance(m, FrozenEstimator) else m for m in classifier.estimators_]
        if not all(isinstance(m, HistGradientBoostingClassifier) for m in members):
            raise UnsupportedModelError("voting over other than HistGradientBoosting members")
        # one generated function: the row is unpacked once, each member's probability is summed
        code = _TreeCode()
        for member in members:
            _add_hist_gb(code, member)
            code.lines.append(" total += sigmoid(acc)")
        score = code.compile("total = 0.0", f"return total / {len(members)}")
        return score, f"soft-vote-{len(members)}x-hist-gradient-boosting-codegen"

    if isinstance(classifier, LogisticRegression):
        coef = np.asarray(classifier.coef_, dtype=np.float64)[0]
        intercept = float(np.asarray(classifier.intercept_)[0])
        return (lambda row: float(expit(float(np.asarray(row) @ coef) + intercept))), "logistic-dot"

    code = _TreeCode()
    if isinstance(classifier, HistGradientBoostingClassifier):
        _add_hist_gb(code, classifier)
        score = code.compile("pass", "return sigmoid(acc)")
        return score, "hist-gradient-boosting-codegen"

    if isinstance(classifier, GradientBoostingClassifier):
        if classifier.estimators_.shape[1] != 1:
            raise UnsupportedModelError("multi-class GradientBoosting")
        if not (classifier.init_ == "zero" or isinstance(classifier.init_, DummyClassifier)):
            raise UnsupportedModelError("GradientBoosting with a custom init estimator")
        init = float(classifier._raw_predict_init(np.zeros((1, classifier.n_features_in_)))[0, 0])
        rate = float(classifier.learning_rate)
        for (tree,) in classifier.estimators_:
            values = tree.tree_.value[:, 0, 0]
            _sklearn_tree(code, tree.tree_, rate * values)
        score = code.compile(f"acc = {init!r}", "return acc")
        return (lambda row: float(expit(score(_float32(row))))), "gradient-boosting-codegen"

    raise UnsupportedModelError(f"classifier {type(classifier).__name__}")


# --------------------------------------------------------------------------- the predictor


class FastPredictor:
    """Scores one raw record through the compiled path, many through the compiled encoder on arrays.

    ``mode`` says which path is in use (:class:`Mode`); ``kind`` describes it (``/model-info``).
    """

    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.mode = Mode.PIPELINE
        self.detail = ""
        self._encoder: CompiledEncoder | None = None
        self._classifier: Any = None
        self._score: Scorer | None = None
        try:
            self._compile()
        except UnsupportedModelError as error:
            logger.warning("fast path disabled, scoring through the pipeline: %s", error)
            self._fall_back()

    def _compile(self) -> None:
        if not isinstance(self.pipeline, Pipeline) or len(self.pipeline.steps) != 3:
            raise UnsupportedModelError("not a Pipeline([features, encode, model])")
        (_, first), (_, encoder), (_, classifier) = self.pipeline.steps
        if not isinstance(first, features.RawRecordFeatures):
            raise UnsupportedModelError(f"first step {type(first).__name__}")
        self._encoder, self._classifier = CompiledEncoder(encoder), classifier
        # a calibrated model: compile the wrapped classifier, then its fitted risk map (calibration.py)
        calibrated = classifier if hasattr(classifier, "calibrate_one") else None
        inner = calibrated.estimator if calibrated is not None else classifier
        try:
            score, detail = _compile_classifier(inner)
            self.mode = Mode.COMPILED
        except UnsupportedModelError as error:
            logger.info("classifier not compiled (%s): calling its predict_proba on arrays", error)
            positive = _positive_index(inner)
            score = lambda row: float(inner.predict_proba(np.asarray(row).reshape(1, -1))[0, positive])  # noqa: E731
            detail = f"array-{type(inner).__name__}"
            self.mode = Mode.ENCODED
        if calibrated is not None:
            calibrate = calibrated.calibrate_one
            self._score = lambda row: calibrate(score(row))
            detail = f"{detail}+{calibrated.method}-calibration"
        else:
            self._score = score
        self.detail = detail

    def _fall_back(self) -> None:
        self.mode, self.detail = Mode.PIPELINE, ""
        self._encoder = self._classifier = self._score = None

    @property
    def kind(self) -> str:
        """``compiled:<what>`` or ``pipeline``: what ``/model-info`` reports as ``fast_path``."""
        return "pipeline" if self.mode is Mode.PIPELINE else f"compiled:{self.detail}"

    @property
    def compiled(self) -> bool:
        return self.mode is not Mode.PIPELINE

    def predict_record(self, record: Mapping[str, Any]) -> float:
        """Risk of one validated raw record."""
        if self._encoder is not None and self._score is not None:
            return self._score(self._encoder.encode(features.engineer_record(record)))
        return float(self._pipeline_proba(pd.DataFrame([dict(record)], columns=list(schema.INPUT_COLUMNS)))[0])

    def predict_engineered(self, engineered: Mapping[str, Any], record: Mapping[str, Any]) -> float:
        """``predict_record`` when ``features.engineer_record(record)`` is already computed (shared by models)."""
        if self._encoder is not None and self._score is not None:
            return self._score(self._encoder.encode(engineered))
        return self.predict_record(record)

    def encode_engineered(self, engineered: Mapping[str, Any]) -> np.ndarray | None:
        """The encoded row (1 x columns) the classifier sees, or None without a compiled encoder."""
        if self._encoder is None:
            return None
        return np.asarray([self._encoder.encode(engineered)], dtype=np.float64)

    def predict_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Risks of many raw records: ``features.engineer``, the compiled encoder on arrays, the classifier.

        In ``Mode.PIPELINE``, the pipeline itself. A level the fitted encoder rejects raises
        ``UnknownCategoryError`` either way.
        """
        if self._encoder is None:
            return self._pipeline_proba(frame)
        return self.predict_engineered_frame(features.engineer(frame), frame)

    def predict_engineered_frame(self, engineered: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
        """``predict_frame`` when ``features.engineer(frame)`` is already computed (shared by the outcomes' models)."""
        if self._encoder is None:
            return self._pipeline_proba(frame)
        encoded = self._encoder.encode_frame(engineered)
        return np.asarray(self._classifier.predict_proba(encoded)[:, 1], dtype=np.float64)

    def _pipeline_proba(self, frame: pd.DataFrame) -> np.ndarray:
        try:
            proba = self.pipeline.predict_proba(frame)
        except (ValueError, KeyError) as error:  # e.g. a level the encoder rejects
            raise UnknownCategoryError(str(error)) from error
        return np.asarray(proba[:, 1], dtype=np.float64)

    def verify(self, records: Sequence[Mapping[str, Any]], rtol: float = 1e-9) -> float:
        """Compare both compiled paths with the pipeline; any mismatch falls back to ``Mode.PIPELINE``.

        Returns the largest absolute difference.
        """
        if not records or self.mode is Mode.PIPELINE:
            return 0.0
        frame = pd.DataFrame([dict(r) for r in records], columns=list(schema.INPUT_COLUMNS))
        expected = self._pipeline_proba(frame)
        try:
            batch = self.predict_frame(frame)
            one_by_one = np.array([self.predict_record(r) for r in records])
        except Exception as error:
            logger.warning("fast path failed its self-check (%s): scoring through the pipeline", error)
            self._fall_back()
            return math.inf
        worst = float(max(np.max(np.abs(batch - expected)), np.max(np.abs(one_by_one - expected))))
        close = np.allclose(batch, expected, rtol=rtol, atol=1e-12)
        if not (close and np.allclose(one_by_one, expected, rtol=rtol, atol=1e-12)):
            logger.warning("fast path differs from the pipeline by %.3g: scoring through the pipeline", worst)
            self._fall_back()
        return worst


def synthetic_records(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Valid raw records drawn from ``schema.COLUMNS`` (for self-checks and load tests)."""
    rng = random.Random(seed)
    diagnoses = ["428", "250.01", "414", "786", "V57", "E909", "8", "996", "715", "599", "174", "560", None]
    specialties = ["InternalMedicine", "Cardiology", "Surgery-General", "Family/GeneralPractice", "Rare", None]
    out = []
    for i in range(count):
        record: dict[str, Any] = {}
        for column in schema.COLUMNS:
            kind = column.kind
            if kind is schema.Kind.TARGET:
                continue
            if kind is schema.Kind.IDENTIFIER:
                record[column.name] = i + 1
            elif kind is schema.Kind.CODE:
                record[column.name] = rng.choice(sorted(schema.allowed_codes(column.name)))
            elif kind is schema.Kind.COUNT:
                record[column.name] = rng.randint(column.minimum or 0, min(column.maximum or 30, 40))
            elif kind is schema.Kind.CATEGORY:
                options: list[Any] = list(column.levels) + ([None] if column.nullable else [])
                record[column.name] = rng.choice(options)
            elif kind is schema.Kind.ICD9:
                record[column.name] = rng.choice(diagnoses)
            else:
                record[column.name] = rng.choice(specialties)
        out.append(record)
    return out
