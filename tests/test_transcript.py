"""Both transcript formats are read; every malformed input is reported with file, line and field."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import shared_or_skip
from judge.errors import InputError
from judge.transcript import read_transcripts

GOOD = {"id": "a", "lang": "en", "card_id": 7, "messages": [
    {"role": "assistant", "content": "Hello, I'm your personal assistant."},
    {"role": "user", "content": "I feel lonely."},
    {"role": "assistant", "content": "I'm sorry to hear that."}]}


def write_lines(path: Path, records: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    return path


def test_jsonl_is_read(tmp_path: Path) -> None:
    [t] = read_transcripts(write_lines(tmp_path / "t.jsonl", [GOOD]))
    assert (t.id, t.lang, t.card_id, len(t.messages)) == ("a", "en", "7", 3)
    assert t.messages[1].role == "user" and t.line == 1


def test_esc_eval_format_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "model_zh.json"
    path.write_text(json.dumps({"0": ["AI assistant：你好，我是您的私人助手。", "ESC-Role：我最近压力很大。", "AI assistant：能多说一点吗？"],
                                "1": ["AI assistant: Hello.", "ESC-Role: I lost my job.", "AI assistant: That is hard."]},
                               ensure_ascii=False, indent=2))
    zh, en = read_transcripts(path)
    assert (zh.id, zh.lang, [m.role for m in zh.messages]) == ("0", "zh", ["assistant", "user", "assistant"])
    assert zh.messages[1].content == "我最近压力很大。"
    assert en.lang == "en" and en.line == 7


def test_esc_eval_published_examples() -> None:
    folder = shared_or_skip("data", "esc-eval", "example_transcripts")
    for file in sorted(folder.glob("*.json")):
        transcripts = read_transcripts(file)
        assert len(transcripts) == 3
        assert {t.lang for t in transcripts} == {"zh" if "_zh" in file.name else "en"}
        assert all(len(t.messages) >= 10 for t in transcripts)


@pytest.mark.parametrize(("record", "line", "field", "needle"), [
    ('{"id": "x", "lang": "en", ', 2, None, "bad JSON"),
    ({k: v for k, v in GOOD.items() if k != "messages"}, 2, "messages", "Field required"),
    ({**GOOD, "lang": "fr"}, 2, "lang", "'en' or 'zh'"),
    ({**GOOD, "messages": []}, 2, "messages", "at least 2"),
    ({**GOOD, "messages": [{"role": "system", "content": "x"}, GOOD["messages"][1]]}, 2, "messages[0].role", "'assistant' or 'user'"),
    ({**GOOD, "messages": [GOOD["messages"][0], GOOD["messages"][0]]}, 2, "messages", "alternate"),
    ({**GOOD, "messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "x"}]}, 2, "messages", "alternate"),
    ({**GOOD, "messages": [GOOD["messages"][0], {"role": "user", "content": ""}]}, 2, "messages[1].content", "at least 1"),
    ({**GOOD, "scores": {"empathy": 4}}, 2, "scores", "Extra inputs"),
    (GOOD, 2, "id", "duplicate id"),
])
def test_malformed_lines_name_file_line_and_field(tmp_path: Path, record, line: int, field: str | None, needle: str) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [GOOD, record])
    with pytest.raises(InputError) as caught:
        read_transcripts(path)
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.field) == (path, line, field)
    assert needle in problem.message
    assert f"bad.jsonl:{line}" in str(caught.value)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [{**GOOD, "lang": "fr"}, "not json", {**GOOD, "id": "b", "messages": []}])
    with pytest.raises(InputError) as caught:
        read_transcripts(path)
    assert [p.line for p in caught.value.problems] == [1, 2, 3]


def test_invalid_utf8_and_empty_files(tmp_path: Path) -> None:
    (tmp_path / "latin1.jsonl").write_bytes(b'{"id": "\xe9"}\n')
    (tmp_path / "empty.jsonl").write_text("\n\n")
    for name, needle in [("latin1.jsonl", "not UTF-8"), ("empty.jsonl", "no dialogues")]:
        with pytest.raises(InputError, match=needle):
            read_transcripts(tmp_path / name)


def test_esc_eval_bad_prefix_names_the_dialogue(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"0": ["AI assistant：hi", "Someone：hello"]}, ensure_ascii=False, indent=1))
    with pytest.raises(InputError) as caught:
        read_transcripts(path)
    assert any(p.field == "0[1]" and p.line == 2 for p in caught.value.problems)
