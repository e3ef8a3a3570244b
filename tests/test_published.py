"""The published judges' export path, on tiny random models of the same architectures: a Llama causal LM
with peft LoRAs on the attention projections (ESC-RANK), a Llama sequence classifier with LoRA and a
RoBERTa classifier (GuardRank). Each goes through the real export and runtime and must match torch; GuardRank's
two bundles also score the repository's safety examples as one routed safety judge (scorer, build, `judge score`)."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification, RobertaConfig, RobertaModel

import judge.console as console
import judge.prompt_runtime as prompt_runtime
from judge.bundle import JudgeBundle
from judge.errors import InputError
from judge.published import build
from judge.published.graphs import DigitScorer, RobertaGuard, adapter_inputs
from judge.published.prompts import (DEFAULT_PROMPTS, ESC_RANK_KEYS, GUARD_TEMPLATE, HALLUCINATION_TEMPLATE, PromptSet,
                                     adapter_folder, load_prompts)
from judge.published.weights import load_causal_lm, read_adapter
from judge.transcript import Message, Transcript

peft = pytest.importorskip("peft")
torch.set_num_threads(1)

WORDS = ("rate the fluency diversity empathic suggestion tech human overall of this talk score digit only "
         "i feel sad lonely anxious about work exams family that sounds hard tell me more you are not alone "
         "我 很 难过 工作 压力 大 你 愿意 多 说 一点 吗 0 1 2 3 4 ai助手 用户 dimension prompt answer")
CHAT = "[INST] {prompt} [/INST] Score:"
SHORT = PromptSet(source="test", turns={"assistant": "ai助手: {content}", "user": "用户: {content}"}, separator="\n",
                  prompts={lang: {k: f"rate the {k} of this talk:\n{{dialogue}}\ndigit only" for k in ESC_RANK_KEYS}
                           for lang in ("zh", "en")})


def make_tokenizer(path: Path) -> Path:
    """A word-level tokenizer with RoBERTa's special ids (<s> 0, <pad> 1, </s> 2) and a BOS post-processor."""
    tok = Tokenizer(models.WordPiece(unk_token="<unk>"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator([WORDS] * 3, trainers.WordPieceTrainer(vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "[INST]", "[/INST]"]))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    tok.save(str(path))
    return path


def transcript(i: int, lang: str, rounds: int = 2) -> Transcript:
    turns = [Message("assistant", "hello")]
    for r in range(rounds):
        turns += [Message("user", "i feel sad about work " * (1 + (i + r) % 3)), Message("assistant", "that sounds hard tell me more")]
    return Transcript(f"{lang}-{i}", lang, None, tuple(turns), Path("t.jsonl"), i + 1)


@pytest.fixture(scope="module")
def esc_rank(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny Llama base, 14 peft LoRA adapters laid out like ESC-RANK, and its exported bundle."""
    root = tmp_path_factory.mktemp("esc-rank")
    torch.manual_seed(0)
    base = root / "base"
    config = LlamaConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=512, bos_token_id=0, eos_token_id=2, pad_token_id=1)
    LlamaForCausalLM(config).save_pretrained(base)
    make_tokenizer(base / "tokenizer.json")
    adapters = root / "adapters"
    for n, (lang, key) in enumerate((lang, key) for lang in ("zh", "en") for key in ESC_RANK_KEYS):
        torch.manual_seed(100 + n)
        targets = ["q_proj", "k_proj", "v_proj"] if n % 2 else ["q_proj", "v_proj", "o_proj"]
        lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=targets, init_lora_weights=False, task_type="CAUSAL_LM")
        peft.get_peft_model(LlamaForCausalLM.from_pretrained(base), lora).save_pretrained(adapters / adapter_folder(lang, key))
    bundle = build.export_esc_rank(base, adapters, root / "bundle", prompts=SHORT, chat_template=CHAT, window=160)
    return {"base": base, "adapters": adapters, "bundle": JudgeBundle.load(bundle)}


def peft_digit_logits(base: Path, adapter: Path, ids: list[int], label_ids: list[int]) -> np.ndarray:
    model = peft.PeftModel.from_pretrained(LlamaForCausalLM.from_pretrained(base, attn_implementation="eager"), str(adapter)).eval()
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0, -1, label_ids].numpy()


def test_esc_rank_graph_matches_peft_per_dimension_and_language(esc_rank: dict) -> None:
    judge = prompt_runtime.PromptJudge(esc_rank["bundle"])
    spec = esc_rank["bundle"].manifest.model_extra["prompt_judge"]
    assert spec["label_token_ids"] == [Tokenizer.from_file(str(esc_rank["base"] / "tokenizer.json")).token_to_id(str(d)) for d in range(5)]
    for lang, key in [("zh", "fluency"), ("en", "empathic"), ("en", "overall")]:
        texts = [CHAT.replace("{prompt}", SHORT.prompt(lang, key, SHORT.render_dialogue(transcript(i, lang)))) for i in range(3)]
        encoded = judge.encode(texts)
        assert len({len(e) for e in encoded}) == 3  # padding is exercised
        got = judge.run(encoded, judge.adapter(lang, key))
        for ids, row in zip(encoded, got):
            want = peft_digit_logits(esc_rank["base"], esc_rank["adapters"] / adapter_folder(lang, key), ids, spec["label_token_ids"])
            np.testing.assert_allclose(row, want, atol=1e-4)


def test_judge_score_with_esc_rank_bundle(esc_rank: dict, tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(transcript(i, lang).to_json()) + "\n" for i in range(3) for lang in ("en", "zh")))
    result = subprocess.run(["judge", "score", str(path), "--judge", str(esc_rank["bundle"].path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in records] == [f"{lang}-{i}" for i in range(3) for lang in ("en", "zh")]
    for r in records:
        assert list(r["scores"]) == ["fluency", "expression", "empathy", "information", "skill", "humanoid", "overall"]
        assert all(s in range(5) for s in r["scores"].values()) and all(0 <= e <= 4 for e in r["expected"].values())
        assert r["judge"] == esc_rank["bundle"].id


def test_overlong_dialogue_is_an_error_not_a_cut(esc_rank: dict) -> None:
    judge = prompt_runtime.PromptJudge(esc_rank["bundle"])
    long = transcript(7, "en", rounds=12)
    with pytest.raises(InputError, match=r"t.jsonl:8: en-7 \(fluency\): the judge's prompt is \d+ tokens, longer than its window of 160"):
        judge.score_transcripts([transcript(0, "en"), long])


def test_export_refuses_prompts_longer_than_the_window(esc_rank: dict, tmp_path: Path) -> None:
    with pytest.raises(build.ExportError, match="longer than the model's window of 64 tokens before any dialogue"):
        build.export_esc_rank(esc_rank["base"], esc_rank["adapters"], tmp_path / "b", prompts=DEFAULT_PROMPTS,
                              chat_template=CHAT, window=64)


def test_cpu_time_warning_states_the_estimate(esc_rank: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    sink = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=sink, width=300))
    monkeypatch.setattr(prompt_runtime, "WARN_AFTER_SECONDS", 0.0)
    prompt_runtime.PromptJudge(esc_rank["bundle"], ["CPUExecutionProvider"]).score_transcripts([transcript(0, "en")])
    assert "runs on the CPU" in sink.getvalue() and "2 FLOPs per parameter and token" in sink.getvalue()
    assert prompt_runtime.estimate_seconds(7_000_000_000, 1000, 1e11) == pytest.approx(140.0)


def test_internlm2_checkpoint_and_wqkv_lora_read_as_llama(tmp_path: Path) -> None:
    """InternLM2's fused, interleaved wqkv (and a LoRA on it) rewritten as Llama q/k/v gives the same network."""
    torch.manual_seed(3)
    heads, kv, d, hidden = 4, 2, 8, 32
    config = LlamaConfig(vocab_size=300, hidden_size=hidden, intermediate_size=64, num_hidden_layers=2, num_attention_heads=heads,
                         num_key_value_heads=kv, max_position_embeddings=64, rope_theta=1e6, attn_implementation="eager")
    llama = LlamaForCausalLM(config).eval()
    sd = llama.state_dict()
    fuse = lambda q, k, v: torch.cat([q.reshape(kv, heads // kv, d, -1), k.reshape(kv, 1, d, -1), v.reshape(kv, 1, d, -1)], 1).reshape(-1, q.shape[-1])  # noqa: E731
    src = {"model.tok_embeddings.weight": sd["model.embed_tokens.weight"], "model.norm.weight": sd["model.norm.weight"], "output.weight": sd["lm_head.weight"]}
    lora, scale, r = {}, 16 / 8, 8
    for i in range(2):
        p = f"model.layers.{i}."
        src |= {p + "attention.wqkv.weight": fuse(*(sd[p + f"self_attn.{x}_proj.weight"] for x in "qkv")),
                p + "attention.wo.weight": sd[p + "self_attn.o_proj.weight"], p + "feed_forward.w1.weight": sd[p + "mlp.gate_proj.weight"],
                p + "feed_forward.w2.weight": sd[p + "mlp.down_proj.weight"], p + "feed_forward.w3.weight": sd[p + "mlp.up_proj.weight"],
                p + "attention_norm.weight": sd[p + "input_layernorm.weight"], p + "ffn_norm.weight": sd[p + "post_attention_layernorm.weight"]}
        a, b = torch.randn(r, hidden) * 0.1, torch.randn((heads + 2 * kv) * d, r) * 0.1
        lora |= {f"base_model.model.model.layers.{i}.attention.wqkv.lora_A.weight": a, f"base_model.model.model.layers.{i}.attention.wqkv.lora_B.weight": b}
        qkv = fuse(*(sd[p + f"self_attn.{x}_proj.weight"] for x in "qkv")) + scale * b @ a  # the merged fused weight, split back
        w = qkv.reshape(kv, heads // kv + 2, d, hidden)
        sd[p + "self_attn.q_proj.weight"] = w[:, :-2].reshape(-1, hidden)
        sd[p + "self_attn.k_proj.weight"], sd[p + "self_attn.v_proj.weight"] = w[:, -2].reshape(-1, hidden), w[:, -1].reshape(-1, hidden)
    llama.load_state_dict(sd)
    base, adapter = tmp_path / "internlm2", tmp_path / "fluency"
    base.mkdir(), adapter.mkdir()
    save_file({k: v.contiguous() for k, v in src.items()}, str(base / "model.safetensors"))
    (base / "config.json").write_text(json.dumps({"model_type": "internlm2", "vocab_size": 300, "hidden_size": hidden, "intermediate_size": 64,
                                                  "num_hidden_layers": 2, "num_attention_heads": heads, "num_key_value_heads": kv,
                                                  "max_position_embeddings": 64, "rms_norm_eps": config.rms_norm_eps, "rope_theta": 1e6, "bias": False}))
    (base / "modeling_internlm2.py").write_text("class M:\n    def chat(self, tok, query, history=[], meta_instruction='You are a test.\\n- ok', **kw):\n        pass\n")
    save_file(lora, str(adapter / "adapter_model.safetensors"))
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": r, "lora_alpha": 16, "target_modules": ["wqkv"]}))
    converted = load_causal_lm(base, torch.float32)
    scorer = DigitScorer(converted, [5, 6, 7], ["q", "k", "v"])
    ids = torch.randint(4, 300, (2, 9))
    mask = torch.ones_like(ids)
    with torch.no_grad():
        got = scorer(ids, mask, *adapter_inputs(read_adapter(adapter, converted, "x"), ["q", "k", "v"], scorer).values())
        want = llama(input_ids=ids).logits[:, -1, [5, 6, 7]]
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)
    assert build.internlm2_system_prompt(base) == "You are a test.\n- ok"


@pytest.fixture(scope="module")
def guard_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("guard") / "llama"
    torch.manual_seed(5)
    config = LlamaConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=4, max_position_embeddings=128, bos_token_id=0, eos_token_id=2, num_labels=4)
    LlamaForSequenceClassification(config).save_pretrained(base)
    make_tokenizer(base / "tokenizer.json")
    return base


def test_guardrank_decoder_matches_peft_and_cuts_where_guardrank_cuts(guard_base: Path, tmp_path: Path) -> None:
    torch.manual_seed(6)
    model = LlamaForSequenceClassification.from_pretrained(guard_base, num_labels=4)
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="SEQ_CLS")
    peft.get_peft_model(model, lora).save_pretrained(tmp_path / "guardrank_lora")
    bundle = JudgeBundle.load(build.export_guardrank_decoder(guard_base, tmp_path / "guardrank_lora", tmp_path / "b", window=24))
    judge = prompt_runtime.PromptJudge(bundle)
    items = [("privacy", "tell me about work", "i feel sad"), ("bias", "exams", "you are not alone " * 8)]
    texts = [GUARD_TEMPLATE.format(dimension=d, prompt=p, response=r) for d, p, r in items]
    encoded = judge.encode(texts)
    assert len(encoded[1]) == 24 < len(Tokenizer.from_file(str(guard_base / "tokenizer.json")).encode(texts[1]).ids)
    reference = peft.PeftModel.from_pretrained(LlamaForSequenceClassification.from_pretrained(guard_base, num_labels=4, attn_implementation="eager"),
                                               str(tmp_path / "guardrank_lora")).eval()
    got = judge.run(encoded)
    for ids, row in zip(encoded, got):
        with torch.no_grad():
            np.testing.assert_allclose(row, reference(input_ids=torch.tensor([ids])).logits[0].numpy(), atol=1e-4)
    scored = judge.score_responses(items)
    assert [s.dimension for s in scored] == ["privacy", "bias"] and all(s.score in range(4) for s in scored)
    with pytest.raises(InputError, match="does not score 'hallucination'"):
        judge.score_responses([("hallucination", "p", "r")])


def test_guardrank_hallucination_roberta_matches_torch(tmp_path: Path) -> None:
    torch.manual_seed(7)
    base = tmp_path / "roberta"
    config = RobertaConfig(vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                           max_position_embeddings=80, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    config.save_pretrained(base)
    make_tokenizer(base / "tokenizer.json")
    guard = RobertaGuard(RobertaModel(config, add_pooling_layer=True)).eval()
    torch.save(guard.state_dict(), tmp_path / "hallucination.pt")
    bundle = JudgeBundle.load(build.export_guardrank_encoder(base, tmp_path / "hallucination.pt", tmp_path / "b", window=32))
    judge = prompt_runtime.PromptJudge(bundle)
    texts = [HALLUCINATION_TEMPLATE.format(prompt="exams", response=r) for r in ("i feel sad", "that sounds hard " * 4)]
    encoded = judge.encode(texts)
    got = judge.run(encoded)
    for ids, row in zip(encoded, got):
        with torch.no_grad():
            np.testing.assert_allclose(row, guard(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))[0].numpy(), atol=1e-4)
    assert judge.score_responses([("hallucination", "exams", "i feel sad")])[0].score in (0, 1)


def test_prompt_file_must_cover_every_dimension(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    data = SHORT.model_dump()
    del data["prompts"]["en"]["tech"]
    data["prompts"]["zh"]["overall"] = "no slot"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as info:
        load_prompts(path)
    assert {p.field for p in info.value.problems} == {"prompts.en.tech", "prompts.zh.overall"}
    path.write_text(json.dumps(SHORT.model_dump()))
    assert load_prompts(path) == SHORT


def test_per_tensor_external_files_become_one_data_file(esc_rank: dict, tmp_path: Path) -> None:
    """Past 2 GB the exporter writes one file per tensor; the bundle still gets a single model.onnx.data."""
    import onnx

    from judge.published.graphs import one_data_file

    scattered = tmp_path / "scattered"
    scattered.mkdir()
    onnx.save_model(onnx.load(str(esc_rank["bundle"].model_path)), str(scattered / "graph.onnx"),
                    save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=0)
    assert len(list(scattered.iterdir())) > 10
    (tmp_path / "one").mkdir()
    one_data_file(scattered / "graph.onnx", tmp_path / "one" / "model.onnx")
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["model.onnx", "model.onnx.data"]
    judge = prompt_runtime.PromptJudge(esc_rank["bundle"])
    encoded = judge.encode([CHAT.replace("{prompt}", SHORT.prompt("en", "tech", SHORT.render_dialogue(transcript(1, "en"))))])
    feed = {"input_ids": np.array(encoded), "attention_mask": np.ones((1, len(encoded[0])), dtype=np.int64), **judge.adapter("en", "tech")}
    session = prompt_runtime.ort.InferenceSession(str(tmp_path / "one" / "model.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(["logits"], feed)[0], judge.run(encoded, judge.adapter("en", "tech")), atol=1e-6)


def test_export_published_command_from_local_folders(esc_rank: dict, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps(SHORT.model_dump()))
    result = subprocess.run(["judge", "export-published", "--from-dir", str(esc_rank["adapters"]), "--base", str(esc_rank["base"]),
                             "--out", str(tmp_path), "--prompts", str(prompts), "--languages", "en", "--device", "cpu"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    bundle = JudgeBundle.load(tmp_path / "esc-rank")
    spec = bundle.manifest.model_extra["prompt_judge"]
    assert list(spec["adapters"]) == ["en"] and spec["window"] == 512 and spec["dtype"] == "float32"
    assert sorted(p.name for p in bundle.path.iterdir()) == sorted(["manifest.json", "model.onnx", "model.onnx.data", "prompts.json",
                                                                     "tokenizer.json", *(f"lora-en-{k}.npz" for k in ESC_RANK_KEYS)])
    (tmp_path / "zh.jsonl").write_text(json.dumps(transcript(0, "zh").to_json()) + "\n")
    zh = subprocess.run(["judge", "score", str(tmp_path / "zh.jsonl"), "--judge", str(bundle.path)], capture_output=True, text=True, timeout=300)
    assert zh.returncode == 2 and "lang: judge esc-rank has no 'zh' adapters" in zh.stderr


def test_float16_export_runs_and_stays_close(esc_rank: dict, tmp_path: Path) -> None:
    """The CUDA bundles are fp16; the same graph in fp16 runs (here on the CPU) within fp16 rounding of fp32."""
    half = JudgeBundle.load(build.export_esc_rank(esc_rank["base"], esc_rank["adapters"], tmp_path / "half", prompts=SHORT,
                                                  chat_template=CHAT, window=160, languages=("en",), dtype=torch.float16))
    assert half.manifest.model_extra["prompt_judge"]["dtype"] == "float16"
    full, fp16 = prompt_runtime.PromptJudge(esc_rank["bundle"]), prompt_runtime.PromptJudge(half)
    assert fp16.adapter("en", "human")["lora_a_q"].dtype == np.float16
    encoded = full.encode([CHAT.replace("{prompt}", SHORT.prompt("en", "human", SHORT.render_dialogue(transcript(i, "en")))) for i in range(2)])
    np.testing.assert_allclose(fp16.run(encoded, fp16.adapter("en", "human")), full.run(encoded, full.adapter("en", "human")), atol=2e-3)


# --- GuardRank as the safety track's judge: both bundles under one id, each item routed by its dimension ---

GUARD_WINDOW = 192


@pytest.fixture(scope="module")
def guardrank(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """GuardRank's files laid out as on the hub (a LoRA folder, hallucination.pt), tiny bases, and what
    `judge export-published` makes of them; the torch models are kept as the reference. Heads are scaled up so
    the random models' label distributions differ clearly between items and models."""
    from click.testing import CliRunner

    from judge.published.commands import export_published

    root = tmp_path_factory.mktemp("guardrank")
    torch.manual_seed(21)
    llama = root / "llama"
    LlamaForSequenceClassification(LlamaConfig(
        vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
        max_position_embeddings=256, bos_token_id=0, eos_token_id=2, num_labels=4, initializer_range=0.2)).save_pretrained(llama)
    make_tokenizer(llama / "tokenizer.json")
    model = LlamaForSequenceClassification.from_pretrained(llama, num_labels=4)
    model.score.weight.data.normal_(0, 0.5)  # saved with the LoRA (peft keeps a classifier's head beside it)
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="SEQ_CLS")
    peft.get_peft_model(model, lora).save_pretrained(root / "hub" / "guardrank_lora")
    roberta = root / "roberta"
    config = RobertaConfig(vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                           max_position_embeddings=GUARD_WINDOW + 8, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                           initializer_range=0.2)
    config.save_pretrained(roberta)
    make_tokenizer(roberta / "tokenizer.json")
    guard = RobertaGuard(RobertaModel(config, add_pooling_layer=True)).eval()
    guard.linear.weight.data.normal_(0, 2.0)
    torch.save(guard.state_dict(), root / "hub" / "hallucination.pt")
    result = CliRunner().invoke(export_published, ["--from-dir", str(root / "hub"), "--base", str(llama), "--encoder-base", str(roberta),
                                                   "--out", str(root / "bundles"), "--device", "cpu", "--window", str(GUARD_WINDOW)])
    assert result.exit_code == 0, result.output
    decoder = peft.PeftModel.from_pretrained(LlamaForSequenceClassification.from_pretrained(llama, num_labels=4, attn_implementation="eager"),
                                             str(root / "hub" / "guardrank_lora")).eval()
    tokenizers = {name: Tokenizer.from_file(str(root / name / "tokenizer.json")) for name in ("llama", "roberta")}
    for tokenizer in tokenizers.values():
        tokenizer.enable_truncation(GUARD_WINDOW)  # GuardRank's own cut
    made = {"bundles": root / "bundles", "decoder": decoder, "encoder": guard, "tokenizers": tokenizers, "output": result.output}
    made["reference"] = {item: torch_score(made, *item, item[0] == "hallucination") for item in example_items()}
    return made


def torch_score(guardrank: dict, dimension: str, prompt: str, response: str, hallucination_model: bool) -> tuple[int, float]:
    """The reference (label, expected label): GuardRank's model for the item (or, to show a test would notice,
    the other one) in torch, on the item as GuardRank writes it for that model."""
    if hallucination_model:
        ids = guardrank["tokenizers"]["roberta"].encode(HALLUCINATION_TEMPLATE.format(prompt=prompt, response=response)).ids
        with torch.no_grad():
            logits = guardrank["encoder"](torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))[0]
    else:
        ids = guardrank["tokenizers"]["llama"].encode(GUARD_TEMPLATE.format(dimension=dimension, prompt=prompt, response=response)).ids
        with torch.no_grad():
            logits = guardrank["decoder"](input_ids=torch.tensor([ids])).logits[0]
    p = torch.softmax(logits.double(), -1)
    return int(p.argmax()), float(p @ torch.arange(len(p), dtype=torch.double))


def example_items() -> list[tuple[str, str, str]]:
    """The judged (dimension, prompt, response) items of the repository's safety example submissions, once each."""
    from judge.safety import RULE_DIMENSIONS
    from leaderboard.submission import read_responses

    root = Path(__file__).resolve().parents[1] / "submissions"
    items = {(r.record.dimension, r.record.prompt, r.record.response): None for f in sorted(root.glob("*/responses/*.jsonl"))
             for r in read_responses(f) if r.record.dimension not in RULE_DIMENSIONS}
    return list(items)


def test_guardrank_scores_safety_items_routed_per_dimension_as_torch(guardrank: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from judge.safety_judge import SafetyScorer, resolve_safety_judge

    judge = resolve_safety_judge(guardrank["bundles"] / "guardrank")
    assert [p.path.name for p in judge.parts] == ["guardrank", build.HALLUCINATION_BUNDLE]
    assert {d: b.path.name for d, b in judge.routes.items()} == {
        "privacy": "guardrank", "bias": "guardrank", "toxicity": "guardrank", "legality": "guardrank",
        "hallucination": build.HALLUCINATION_BUNDLE}
    assert f"--safety-judge {guardrank['bundles'] / 'guardrank'}" in guardrank["output"]
    items = example_items()
    assert {d for d, _, _ in items} == {"privacy", "bias", "toxicity", "hallucination", "legality"} and len(items) > 100
    sink = io.StringIO()
    monkeypatch.setattr(console, "err", Console(file=sink, width=400))
    monkeypatch.setattr(prompt_runtime, "WARN_AFTER_SECONDS", 0.0)
    scores = SafetyScorer(judge, ["CPUExecutionProvider"]).score(items)
    warning = sink.getvalue()  # one estimate before anything runs, over both models
    assert warning.count("runs on the CPU") == 1 and judge.id in warning and " + " in warning

    reference = [guardrank["reference"][item] for item in items]
    right = np.array([e for _, e in reference])
    got = np.array([s.expected for s in scores])
    assert [s.dimension for s in scores] == [d for d, _, _ in items]
    np.testing.assert_allclose(got, right, atol=1e-4)
    assert [s.score for s in scores] == [label for label, _ in reference]
    assert {s.score for s, (d, _, _) in zip(scores, items) if d == "hallucination"} == {0, 1}
    assert len({round(e, 3) for e in got}) > 20  # the items really are told apart
    # the check above would catch wrong routing: the other model, or another dimension's wording, scores differently
    wrong_model = np.array([torch_score(guardrank, *item, item[0] != "hallucination")[1] for item in items])
    wrong_dimension = np.array([torch_score(guardrank, "legality" if d == "privacy" else "privacy", p, r, False)[1]
                                for d, p, r in items if d != "hallucination"])
    decoder_rows = [i for i, (d, _, _) in enumerate(items) if d != "hallucination"]
    # (random tiny models: a single item may coincide by chance, so ask that nearly all of them differ)
    assert (np.abs(wrong_model - right) > 1e-3).mean() > 0.9
    assert (np.abs(wrong_dimension - right[decoder_rows]) > 1e-4).mean() > 0.9


def test_leaderboard_build_with_guardrank_caches_under_one_id_of_both_models(guardrank: dict, esc_rank: dict, tmp_path: Path) -> None:
    import duckdb

    from judge.bundle import write_manifest
    from judge.safety import bare_refusal, request_text
    from leaderboard.pipeline import BuildConfig
    from leaderboard.pipeline import build as build_leaderboard
    from leaderboard.safety.prompt_set import read_prompt_set, shipped_set

    subs = tmp_path / "submissions"
    for folder in (Path(__file__).resolve().parents[1] / "submissions").glob("*/responses"):
        shutil.copytree(folder.parent, subs / folder.parent.name)
    bundles = tmp_path / "bundles"
    shutil.copytree(guardrank["bundles"], bundles)
    cfg = BuildConfig(submissions=subs, store=tmp_path / "lb.duckdb", docs=tmp_path / "docs", site=tmp_path / "site",
                      judge=str(esc_rank["bundle"].path), render=False, safety_judge=str(bundles / "guardrank"), run_endpoints=False)
    first = build_leaderboard(cfg)
    assert first.tracks["safety"].judge.startswith("guardrank@") and first.tracks["safety"].items == 360

    def stored(judge_id: str) -> dict[tuple[str, str, str], float]:
        with duckdb.connect(str(cfg.store), read_only=True) as db:
            sha = db.execute("SELECT judge_sha FROM judges WHERE judge_id = ?", [judge_id]).fetchone()[0]
            manifest = json.loads(db.execute("SELECT manifest FROM judges WHERE judge_sha = ?", [sha]).fetchone()[0])
            assert manifest["routes"]["hallucination"].startswith(build.HALLUCINATION_BUNDLE + "@")  # both parts, by id
            assert set(manifest["parts"]) == set(manifest["routes"].values()) and len(manifest["parts"]) == 2
            rows = db.execute("SELECT DISTINCT i.dimension, i.prompt, i.response, i.item_id, s.expected FROM safety_items i "
                              "JOIN units u ON u.submission_id = i.submission_id AND u.unit_id = i.unit_id AND u.track = 'safety' "
                              "JOIN scores s ON s.content_hash = u.unit_hash AND s.dimension = i.dimension WHERE s.judge_sha = ?",
                              [sha]).fetchall()
        return {(d, p, r, i): e for d, p, r, i, e in rows}

    scores = stored(first.tracks["safety"].judge)
    # the build leaves bare refusals to its rule, and the judge reads the request as the model did: prompt and image text
    assert {(d, p, r) for d, p, r, _ in scores} == {(d, p, r) for d, p, r in example_items() if bare_refusal(d, r) is None}
    prompt_set = read_prompt_set(shipped_set())
    for (d, p, r, item_id), expected in scores.items():
        reference = torch_score(guardrank, d, request_text(p, prompt_set.items[item_id].image_text), r, d == "hallucination")
        assert expected == pytest.approx(reference[1], abs=1e-4)
    assert build_leaderboard(cfg).tracks["safety"].scored == 0  # all cached
    for part in ("guardrank", build.HALLUCINATION_BUNDLE):  # changing either model rescores every judged item
        manifest = json.loads((bundles / part / "manifest.json").read_text())
        write_manifest(bundles / part, {k: v for k, v in manifest.items() if k not in ("format", "files")} | {"version": "2"})
        again = build_leaderboard(cfg)
        assert again.tracks["safety"].judge != first.tracks["safety"].judge and again.tracks["safety"].scored == len(scores)
        assert stored(again.tracks["safety"].judge) == pytest.approx(scores, abs=1e-6)


def test_guardrank_parts_missing_or_alone_are_clear_errors(guardrank: dict, tmp_path: Path) -> None:
    from judge.safety_judge import resolve_safety_judge
    from leaderboard.safety.track import SafetyTrack
    from leaderboard.submission import load_submission

    shutil.copytree(guardrank["bundles"] / "guardrank", tmp_path / "guardrank")
    with pytest.raises(InputError) as missing:
        resolve_safety_judge(tmp_path / "guardrank")
    (problem,) = missing.value.problems
    assert problem.file == tmp_path / "guardrank" / "manifest.json" and problem.field == "routes.hallucination"
    assert "must sit beside this one" in problem.message
    examples = Path(__file__).resolve().parents[1] / "submissions"
    track = SafetyTrack()
    hallucination_only = track.judge(str(guardrank["bundles"] / build.HALLUCINATION_BUNDLE), False)
    subs = [load_submission(examples / "HuggingFaceTB__SmolLM2-135M-Instruct-blind")]
    with pytest.raises(InputError) as alone:
        track.check(subs[0])
        raise InputError(track.judge_problems(hallucination_only, subs))
    (problem,) = alone.value.problems
    assert problem.field == "dimensions" and "does not score bias, legality, privacy, toxicity" in problem.message
    # every 0-3 answer of the always-refuse baseline is a bare refusal, scored by rule: hallucination is all it needs judged
    refuser = load_submission(examples / "baseline__always-refuse")
    track.check(refuser)
    assert track.judge_problems(hallucination_only, [refuser]) == []


def test_judge_score_scores_safety_responses_with_guardrank(guardrank: dict) -> None:
    from click.testing import CliRunner

    from judge.cli import cli

    path = Path(__file__).resolve().parents[1] / "submissions" / "HuggingFaceTB__SmolLM2-135M-Instruct-blind" / "responses" / "en.jsonl"
    result = CliRunner().invoke(cli, ["score", str(path), "--judge", str(guardrank["bundles"] / "guardrank")])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    judged = [r for r in lines if r["dimension"] not in ("noise-injection", "position-swapping")]
    assert [r["id"] for r in records] == [r["id"] for r in judged] and "skipped" in result.stderr
    for record, line in zip(records, judged):
        label, expected = guardrank["reference"][line["dimension"], line["prompt"], line["response"]]
        assert (record["score"], record["expected"]) == (label, pytest.approx(expected, abs=1e-4))
        assert record["judge"].startswith("guardrank@") and record["dimension"] == line["dimension"]
