"""The pain classifier's saved model (PainClassifier.save/load): one JSON file, no pickle, the
same predictions bit for bit after a round trip, and a clear error for a file that is not one."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from painsig.classifier import PainClassifier, SavedModelError


def _fitted(labels=("baseline", "pain")) -> tuple[PainClassifier, pd.DataFrame]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(80, 3)), columns=["BIClong_rms", "BIClong_mdf", "x"])  # noqa: N806
    X.iloc[3, 1] = np.nan  # a missing value takes XGBoost's learnt default direction
    y = np.where(X["BIClong_rms"] + rng.normal(0, 0.5, 80) > 0, labels[1], labels[0])
    return PainClassifier(n_estimators=15, n_jobs=1).fit(X, y), X


def test_a_saved_model_predicts_the_same_numbers(tmp_path):
    model, X = _fitted()  # noqa: N806
    path = model.save(tmp_path / "model.json")
    loaded = PainClassifier.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.classes_.tolist() == ["baseline", "pain"]
    assert loaded.feature_names_in_.tolist() == list(X.columns)
    assert loaded.get_params() == model.get_params()
    assert json.loads(path.read_text())["format"] == "painsig-classifier"


def test_the_context_of_the_training_contractions_round_trips(tmp_path):
    model, _ = _fitted()
    loaded = PainClassifier.load(model.save(tmp_path / "m.json", {"segmenter": "kinematic"}))
    assert loaded.context_ == {"segmenter": "kinematic"}
    document = json.loads((tmp_path / "m.json").read_text())
    del document["context"]  # a file saved before the context was recorded
    (tmp_path / "old.json").write_text(json.dumps(document))
    assert PainClassifier.load(tmp_path / "old.json").context_ == {}


def test_integer_labels_round_trip(tmp_path):
    model, X = _fitted(labels=(0, 1))  # noqa: N806
    loaded = PainClassifier.load(model.save(tmp_path / "m.json"))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("not json", "cannot read"),
        ('{"format": "other"}', "not a painsig-classifier"),
        ('{"format": "painsig-classifier", "version": 9}', "version 9"),
        ('{"format": "painsig-classifier", "version": 1}', "malformed"),
    ],
)
def test_a_file_that_is_not_a_saved_model_is_named(tmp_path, text, match):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(SavedModelError, match=match) as err:
        PainClassifier.load(path)
    assert str(path) in str(err.value)
