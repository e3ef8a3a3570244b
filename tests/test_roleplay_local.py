"""The in-process transformers backend, on a tiny random Llama built here (no hub, no download)."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from roleplay_support import REPO, openai_server, write_cards, write_submission  # noqa: E402

from leaderboard.runner.backends import LocalBackend, Sampling  # noqa: E402

CORPUS = ["I feel worried about my exams and my family.", "Thank you for listening to me today.",
          "User: how are you?\nAssistant: I am here for you.", "我最近压力很大，睡不好。"] * 20


def tiny_model(folder: Path, chat_template: bool) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=400, special_tokens=["<eos>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<eos>")
    if chat_template:
        fast.chat_template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
                              "{% if add_generation_prompt %}<assistant>{% endif %}")
    fast.save_pretrained(folder)
    config = transformers.LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                                      eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("chat_template", [True, False])
def test_local_replies_are_seeded_and_clean(tmp_path: Path, chat_template: bool) -> None:
    backend = LocalBackend(str(tiny_model(tmp_path / "m", chat_template)), Sampling(temperature=1.0, max_tokens=12))
    messages = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "I feel worried."}]

    async def replies() -> list[str]:
        return list(await asyncio.gather(*(backend.complete(messages, seed) for seed in (1, 2, 1))))

    first, second, again = asyncio.run(replies())
    assert first == again and first != second
    assert first.strip() == first and "\ufffd" not in first[-1:] and "\nUser:" not in first
    assert backend.describe()["kind"] == "local"


def test_cli_runs_a_local_model_under_test(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "m", chat_template=True)
    cards = write_cards(tmp_path / "cards.jsonl", 2)
    with openai_server() as roleplayer:
        sub = write_submission(tmp_path / "org__model", [roleplayer])
        done = subprocess.run([sys.executable, "-c", "from leaderboard.cli import main; main()", "run", str(sub),
                               "--cards", str(cards), "--rounds", "2", "--model", f"local:{model}", "--max-tokens", "8",
                               "--roleplayer", roleplayer, "--roleplayer-model", "esc-role"],
                              capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (sub / "transcripts" / "en.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(len(r["messages"]) == 5 for r in records)
    settings = json.loads((sub / "roleplay-runs.jsonl").read_text().splitlines()[0])["settings"]
    assert settings["model"]["kind"] == "local" and settings["model"]["max_tokens"] == 8
