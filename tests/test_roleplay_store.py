"""The resumable transcript file and the dialogue loop, without a network."""
from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from judge.errors import InputError
from judge.transcript import read_transcripts
from leaderboard.runner.backends import BackendError, Messages
from leaderboard.esc.rolecards import RoleCard
from leaderboard.esc.roleplay import GREETINGS, DialogueSetup, play, run_dialogues
from leaderboard.runner.records import TranscriptFile, request_seed


def _record(did: str) -> dict[str, Any]:
    return {"id": did, "lang": "en", "card_id": did, "messages": [{"role": "assistant", "content": "hi"},
                                                                {"role": "user", "content": "hello"}]}


def test_torn_last_line_is_cut_and_finished_ids_are_returned(tmp_path: Path) -> None:
    path = tmp_path / "en.jsonl"
    path.write_text(json.dumps(_record("a")) + "\n" + json.dumps(_record("b")) + "\n" + '{"id": "c", "lang": "e')
    f = TranscriptFile(path)
    assert f.open() == {"a", "b"}
    f.append(_record("c"))
    f.close()
    assert [t.id for t in read_transcripts(path)] == ["a", "b", "c"]


def test_second_writer_is_refused(tmp_path: Path) -> None:
    first = TranscriptFile(tmp_path / "en.jsonl")
    first.open()
    with pytest.raises(InputError, match="another run"):
        TranscriptFile(tmp_path / "en.jsonl").open()
    first.close()
    second = TranscriptFile(tmp_path / "en.jsonl")
    assert second.open() == set()
    second.close()


def test_duplicate_or_broken_lines_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "en.jsonl"
    path.write_text(json.dumps(_record("a")) + "\n" + json.dumps(_record("a")) + "\n")
    with pytest.raises(InputError, match="duplicate"):
        TranscriptFile(path).open()
    path.write_text("garbage\n" + json.dumps(_record("a")) + "\n")
    with pytest.raises(InputError) as err:
        TranscriptFile(path).open()
    assert err.value.problems[0].line == 1


def test_invalid_record_is_never_written(tmp_path: Path) -> None:
    f = TranscriptFile(tmp_path / "en.jsonl")
    f.open()
    bad = _record("a")
    bad["messages"][1]["content"] = ""
    with pytest.raises(ValueError):
        f.append(bad)
    f.close()
    assert (tmp_path / "en.jsonl").read_text() == ""


def test_request_seed_is_stable_and_distinct() -> None:
    assert request_seed(0, "en-1", 3) == request_seed(0, "en-1", 3)
    assert len({request_seed(0, "en-1", t) for t in range(10)} | {request_seed(1, "en-1", 0)}) == 11
    assert 0 <= request_seed(5, "x", 0) < 2**31


class Echo:
    """A backend that names what it saw, and fails on request."""

    def __init__(self, name: str, fail_on: str | None = None):
        self.name, self.fail_on, self.seen = name, fail_on, []  # type: ignore[var-annotated]

    async def complete(self, messages: Messages, seed: int) -> str:
        self.seen.append(list(messages))
        if self.fail_on and self.fail_on in messages[0]["content"]:
            raise BackendError("injected")
        return f"{self.name} {len(messages)}"

    def describe(self) -> dict[str, Any]:
        return {"kind": "echo", "model": self.name}

    async def aclose(self) -> None:
        pass


def test_protocol_views_of_both_sides() -> None:
    card = RoleCard("1", "zh", "family", "年龄：30", "test")
    seeker, supporter = Echo("seeker"), Echo("supporter")
    messages = asyncio.run(play(card, seeker, supporter, DialogueSetup(rounds=2)))
    assert [m["role"] for m in messages] == ["assistant", "user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == GREETINGS["zh"]
    assert "年龄：30" in seeker.seen[0][0]["content"] and seeker.seen[0][1] == {"role": "user", "content": GREETINGS["zh"]}
    # the model under test never sees its greeting, as in ESC-Eval's evaluate.py
    assert supporter.seen[1] == [{"role": "system", "content": "You are a helpful assistant!"},
                                 {"role": "user", "content": "seeker 2"}, {"role": "assistant", "content": "supporter 2"},
                                 {"role": "user", "content": "seeker 4"}]


def test_failed_dialogues_are_reported_not_written(tmp_path: Path) -> None:
    cards = [RoleCard(str(i), "en", "family", "bad" if i == 2 else "ok", "test") for i in range(5)]
    report = asyncio.run(run_dialogues(cards, tmp_path, Echo("seeker", fail_on="bad"), Echo("supporter"),
                                       DialogueSetup(rounds=1), concurrency=3, settings={}))
    assert (report.finished, list(report.failed)) == (4, ["en-2"])
    assert sorted(t.id for t in read_transcripts(tmp_path / "transcripts" / "en.jsonl")) == ["en-0", "en-1", "en-3", "en-4"]
    again = asyncio.run(run_dialogues(cards, tmp_path, Echo("seeker"), Echo("supporter"), DialogueSetup(rounds=1),
                                      concurrency=3, settings={}))
    assert (again.skipped, again.finished, again.failed) == (4, 1, {})
    events = [json.loads(line)["event"] for line in (tmp_path / "roleplay-runs.jsonl").read_text().splitlines()]
    assert events == ["start", "end", "start", "end"]


def test_written_meta_passes_the_intake_checks(tmp_path: Path) -> None:
    from leaderboard.esc.protocol import check_dialogues

    class CardEcho(Echo):
        async def complete(self, messages: Messages, seed: int) -> str:
            card = next(c for c in ("card 0", "card 1") if c in messages[0]["content"])  # the card, in the role prompt
            return f"{await super().complete(messages, seed)} about {card}"

    cards = [RoleCard(str(i), "en", "family", f"card {i}", "test") for i in range(2)]
    known = {(c.lang, c.id): c for c in cards}
    asyncio.run(run_dialogues(cards, tmp_path, CardEcho("seeker"), Echo("supporter"), DialogueSetup(rounds=5),
                              concurrency=2, settings={}))
    transcripts = read_transcripts(tmp_path / "transcripts" / "en.jsonl")
    assert sorted(t.meta["card"] for t in transcripts if t.meta) == ["card 0", "card 1"]
    assert check_dialogues(transcripts, known) == []
    first = transcripts[0]
    edited = replace(first, messages=(first.messages[0], replace(first.messages[1], content="edited"), *first.messages[2:]))
    assert [p.message for p in check_dialogues([edited], known)] == \
        ["the help-seeker's turns differ from those the role-player produced"]
