"""``torchgraft embed`` and ``torchgraft similarity``."""

from __future__ import annotations

import json

from torchgraft.core.cli import main


def test_embed_json(capsys):
    assert main(["embed", "A man is eating food.", "A monkey is playing drums.", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "all_minilm_l6_v2" and out["weights"] == "AllMiniLM_L6_V2_Weights.SENTENCE_PAIRS_1B_V2"
    assert len(out["embeddings"]) == 2 and len(out["embeddings"][0]) == 384
    assert abs(sum(x * x for x in out["embeddings"][0]) - 1) < 1e-4


def test_similarity_matrix(capsys):
    assert (
        main(["similarity", "A man is eating food.", "A man is eating bread.", "A monkey is playing drums.", "--json"])
        == 0
    )
    m = json.loads(capsys.readouterr().out)["similarity"]
    assert all(abs(m[i][i] - 1) < 1e-5 for i in range(3)) and m[0][1] == m[1][0]
    assert m[0][1] > m[0][2]
    assert main(["similarity", "a", "b"]) == 0
    assert "[0] a" in capsys.readouterr().out


def test_embed_with_a_model_that_cannot_embed_fails_clearly(capsys, monkeypatch):
    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")  # refused before anything is fetched
    assert main(["embed", "hello", "--model", "bert_base"]) == 1
    assert "encoder weights, not a sentence-embedding model" in capsys.readouterr().err
    assert main(["embed", "hello", "--model", "minilm_l6_h384"]) == 1
    assert "no published weights" in capsys.readouterr().err
