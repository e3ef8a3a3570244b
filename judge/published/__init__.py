"""The papers' own judges (ESC-RANK, GuardRank) turned into judge bundles, so scores compare with the papers'.

Export needs torch, transformers and peft (the `published` extra); scoring the bundles needs only
onnxruntime and tokenizers (judge.prompt_runtime).
"""
