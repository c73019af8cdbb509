"""dialogue/danger.py: the learned danger model (fit, threshold, save/load, run-time use)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dialogue import danger
from dialogue.danger import DangerClassifier, choose_threshold, fit, read_examples
from dialogue.situations import SituationModel
from retrieval.encoders import HashingEncoder


def _toy(n: int = 40, seed: int = 3) -> tuple[np.ndarray, list[str]]:
    """Separable vectors: 'none' around one direction, 'threat' and 'medical' around others."""
    rng = np.random.default_rng(seed)
    centres = {"none": np.eye(8)[0], "threat": np.eye(8)[1], "medical": np.eye(8)[2]}
    vectors, labels = [], []
    for label, centre in centres.items():
        for _ in range(n):
            v = centre + 0.15 * rng.standard_normal(8)
            vectors.append(v / np.linalg.norm(v))
            labels.append(label)
    return np.array(vectors, dtype=np.float32), labels


def test_a_fitted_model_tells_danger_from_ordinary_and_names_the_situation():
    vectors, labels = _toy()
    classes, coef, intercept = fit(vectors, labels)
    model = DangerClassifier(classes, coef, intercept, 0.5, "toy")
    assert model.predict(np.eye(8, dtype=np.float32)[1])[0] == "threat"
    assert model.predict(np.eye(8, dtype=np.float32)[2])[0] == "medical"
    name, p_danger = model.predict(np.eye(8, dtype=np.float32)[0])
    assert name is None and p_danger < 0.5


def test_the_threshold_is_chosen_for_recall_by_cross_validation():
    vectors, labels = _toy()
    threshold, table = choose_threshold(vectors, labels)
    recall, alarms = table[threshold]
    assert recall >= danger.TARGET_RECALL
    assert alarms <= 0.05


def test_save_and_load_round_trip_and_a_missing_or_broken_file_gives_none(tmp_path: Path):
    vectors, labels = _toy()
    classes, coef, intercept = fit(vectors, labels)
    path = tmp_path / "situations.npz"
    DangerClassifier(classes, coef, intercept, 0.6, "toy", "abc").save(path)
    loaded = DangerClassifier.load(path)
    assert loaded is not None and loaded.classes == classes and loaded.threshold == pytest.approx(0.6)
    assert np.allclose(loaded.coef, coef) and loaded.model_id == "toy" and loaded.data_hash == "abc"
    assert DangerClassifier.load(tmp_path / "absent.npz") is None
    (tmp_path / "broken.npz").write_bytes(b"not a numpy file")
    assert DangerClassifier.load(tmp_path / "broken.npz") is None


def test_bad_training_lines_are_skipped(tmp_path: Path):
    path = tmp_path / "train.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"text": "có người cầm dao trước cổng", "label": "threat"}),
                "{not json",
                json.dumps({"text": "x", "label": "unknown_label"}),
                json.dumps({"label": "none"}),
                json.dumps({"text": "quên mật khẩu", "label": "none"}),
            ]
        ),
        encoding="utf-8",
    )
    assert read_examples(path) == [("có người cầm dao trước cổng", "threat"), ("quên mật khẩu", "none")]


def test_the_situation_model_uses_the_classifier_only_with_the_encoder_it_was_trained_on():
    encoder = HashingEncoder()
    texts = [
        "cầm dao đứng trước cổng dọa chém",
        "cầm mã tấu xông vào nhà dọa giết",
        "quên mật khẩu vneid",
        "đăng ký tạm trú online",
    ] * 5
    labels = ["threat", "threat", "none", "none"] * 5
    classes, coef, intercept = fit(encoder.encode_queries(texts), labels)
    matching = DangerClassifier(classes, coef, intercept, 0.5, encoder.model_id)
    model = SituationModel(encoder, classifier=matching)
    found = model.recognize("cầm dao đứng trước cổng dọa chém")  # the patterns know this one too
    assert found is not None and found.kind == "danger"
    assert model.learned_danger("cầm mã tấu xông vào nhà dọa giết")[0] == "threat"
    assert model.learned_danger("quên mật khẩu vneid")[0] is None
    other = DangerClassifier(classes, coef, intercept, 0.5, "another-model")
    assert SituationModel(encoder, classifier=other).classifier is None
