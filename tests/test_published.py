"""The published judges' export path, on tiny random models of the same architectures: a Llama causal LM
with peft LoRAs on the attention projections (ESC-RANK), a Llama sequence classifier with LoRA and a
RoBERTa classifier (GuardRank). Each goes through the real export and runtime and must match torch."""
from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from rich.console import Console
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification, RobertaConfig, RobertaModel

import judge.prompt_runtime as prompt_runtime
from judge.bundle import JudgeBundle
from judge.errors import InputError
from judge.published import build
from judge.published.graphs import DigitScorer, RobertaGuard, adapter_inputs
from judge.published.prompts import DEFAULT_PROMPTS, ESC_RANK_KEYS, PromptSet, load_prompts
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
        peft.get_peft_model(LlamaForCausalLM.from_pretrained(base), lora).save_pretrained(adapters / build.adapter_folder(lang, key))
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
            want = peft_digit_logits(esc_rank["base"], esc_rank["adapters"] / build.adapter_folder(lang, key), ids, spec["label_token_ids"])
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
    monkeypatch.setattr(prompt_runtime, "err", Console(file=sink, width=300))
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
    texts = [build.GUARD_TEMPLATE.format(dimension=d, prompt=p, response=r) for d, p, r in items]
    encoded = judge.encode(texts)
    assert len(encoded[1]) == 24 < len(Tokenizer.from_file(str(guard_base / "tokenizer.json")).encode(texts[1]).ids)
    reference = peft.PeftModel.from_pretrained(LlamaForSequenceClassification.from_pretrained(guard_base, num_labels=4, attn_implementation="eager"),
                                               str(tmp_path / "guardrank_lora")).eval()
    got = judge.run(encoded)
    for ids, row in zip(encoded, got):
        with torch.no_grad():
            np.testing.assert_allclose(row, reference(input_ids=torch.tensor([ids])).logits[0].numpy(), atol=1e-4)
    scored = judge.score_responses(items)
    assert [s["dimension"] for s in scored] == ["privacy", "bias"] and all(s["score"] in range(4) for s in scored)
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
    texts = [build.HALLUCINATION_TEMPLATE.format(prompt="exams", response=r) for r in ("i feel sad", "that sounds hard " * 4)]
    encoded = judge.encode(texts)
    got = judge.run(encoded)
    for ids, row in zip(encoded, got):
        with torch.no_grad():
            np.testing.assert_allclose(row, guard(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))[0].numpy(), atol=1e-4)
    assert judge.score_responses([("hallucination", "exams", "i feel sad")])[0]["score"] in (0, 1)


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
