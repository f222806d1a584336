"""``torchgraft embed`` and ``torchgraft similarity``."""

from __future__ import annotations

import json

import pytest

from torchgraft.core.cli import main
from torchgraft.core.store import UnpinnedDownloadWarning
from torchgraft.text.models import GPT2_Weights


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
    for model in ("gpt2", "t5_small"):  # generative weights: refused by the entry, not after a download
        assert main(["embed", "hello", "--model", model]) == 1
        err = capsys.readouterr().err
        assert "not a sentence-embedding model's weights" in err and "offline" not in err.lower()


# --------------------------------------------------------------------------- generate
PROMPTS = ["The harbour was quiet that morning, and", "Short"]


@pytest.fixture
def served_gpt2(gpt2_hub, monkeypatch, tmp_path):
    """The catalog's gpt2 served from a GPT-2 checkpoint in the upstream layout."""
    from torchgraft.core.hub import HUB
    from torchgraft.core.testing import serve_like_hub

    root, reference = gpt2_hub
    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "cache"))
    with serve_like_hub(root) as base:
        monkeypatch.setenv("TORCHGRAFT_MIRROR", f"{HUB}={base}/")
        yield root, reference


@pytest.mark.slow
def test_generate_json_gives_transformers_greedy_tokens(served_gpt2, capsys):
    _, reference = served_gpt2
    with pytest.warns(UnpinnedDownloadWarning):
        assert main(["generate", *PROMPTS, "--max-new-tokens", "6", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "gpt2" and out["weights"] == "GPT2_Weights.WEBTEXT"
    transform = GPT2_Weights.DEFAULT.transforms()
    batch = transform(PROMPTS)
    expected = reference.generate(**batch, max_new_tokens=6, do_sample=False, pad_token_id=50256)[
        :, batch["input_ids"].shape[1] :
    ]
    for result, prompt, row in zip(out["results"], PROMPTS, expected.tolist(), strict=True):
        tokens = row[: row.index(50256)] if 50256 in row else row
        assert result == {"prompt": prompt, "text": transform.decode(tokens), "tokens": tokens}
    # sampling under a seed is reproducible; beams run
    runs = []
    for _ in range(2):
        assert main(["generate", "Short", "--top-k", "5", "--seed", "3", "--max-new-tokens", "4", "--json"]) == 0
        runs.append(json.loads(capsys.readouterr().out)["results"])
    assert runs[0] == runs[1]
    assert main(["generate", "Short", "--beams", "3", "--max-new-tokens", "4"]) == 0
    assert capsys.readouterr().out.startswith("Short")


@pytest.mark.slow
def test_generate_streams_to_a_terminal(served_gpt2, capsys, monkeypatch):
    with pytest.warns(UnpinnedDownloadWarning):
        assert main(["generate", "Short", "--max-new-tokens", "5", "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)["results"][0]["text"]
    assert expected.strip()
    written: list[str] = []

    class Terminal:
        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> int:
            written.append(text)
            return len(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr("sys.stdout", Terminal())
    assert main(["generate", "Short", "--max-new-tokens", "5"]) == 0
    assert "".join(written) == f"Short{expected}\n" and len(written) > 3  # piece by piece


def test_generate_refuses_before_any_download(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCHGRAFT_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCHGRAFT_OFFLINE", "1")
    assert main(["generate", "hello", "--model", "bert_base"]) == 1
    assert "not a generative model's weights" in capsys.readouterr().err
    assert main(["generate", "hello", "--top-p", "1.5"]) == 1
    assert "top_p must be in (0, 1]" in capsys.readouterr().err
    assert main(["generate", "hello", "--temperature", "nan"]) == 1
    assert "temperature must be a finite number > 0; found nan" in capsys.readouterr().err
    assert main(["generate", "hello", ""]) == 2
    assert "PROMPT 2 is empty" in capsys.readouterr().err
    assert main(["generate", b"caf\xe9".decode("utf-8", "surrogateescape")]) == 2  # Latin-1 bytes from a shell
    assert "PROMPT 1 is not valid UTF-8 text: byte 0xe9 at character 3" in capsys.readouterr().err
    for seed in (str(2**70), "-1", "x"):
        assert main(["generate", "hello", "--seed", seed]) == 2
        assert "--seed must be an integer from 0 to 2**64 - 1" in capsys.readouterr().err
    assert main(["generate", "hello"]) == 1  # offline with an empty cache: the store's typed error
    assert "offline" in capsys.readouterr().err.lower()
    assert not list((tmp_path / "cache").rglob("*.safetensors"))


def test_generate_takes_a_transformers_folder_as_its_model(capsys, tmp_path, gpt2_layout_tokenizer):
    import json

    import torch
    import transformers

    torch.manual_seed(0)
    folder = tmp_path / "hf-gpt2"
    config = transformers.GPT2Config(
        vocab_size=400, n_embd=32, n_layer=1, n_head=2, n_positions=64, bos_token_id=0, eos_token_id=0
    )
    reference = transformers.GPT2LMHeadModel(config).eval()
    reference.save_pretrained(folder)
    gpt2_layout_tokenizer(folder / "tokenizer.json")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"eos_token": "<|endoftext|>", "pad_token": None, "padding_side": "left", "model_max_length": 64})
    )
    assert main(["generate", "Short", "--model", str(folder), "--max-new-tokens", "4", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    from torchgraft.text.transforms import TextTransform

    ids = TextTransform.from_pretrained(folder)(["Short"])["input_ids"]
    with torch.no_grad():
        expected = reference.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=0)[0, ids.shape[1] :]
    assert (
        result["weights"] == str(folder.resolve())
        and result["results"][0]["tokens"] == expected.tolist()[: len(result["results"][0]["tokens"])]
    )
    assert main(["generate", "Short", "--model", str(folder), "--weights", "DEFAULT"]) == 2
