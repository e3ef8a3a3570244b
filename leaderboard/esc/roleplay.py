"""ESC-Role dialogues: a role-player with a role card talks with the model under test, many dialogues at once.

The protocol is ESC-Eval's (arXiv 2406.14952, `evaluate.py` of its repository): the model under test
greets, the role-player answers in character, and they alternate for 5 rounds. The role-player's
prompt asks what ESC-Eval's asks, in this project's words, and the greetings are the protocol's; the model under test does not see its greeting,
as in the original, and gets ESC-Eval's system prompt unless told otherwise.

Finished dialogues are appended to `transcripts/<lang>.jsonl`, one line each, written whole, flushed
and fsynced at once, so a run killed at any moment loses only the dialogues in flight; a rerun skips
the ids already in the file and plays the others from the start.
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leaderboard.esc.rolecards import Lang, RoleCard
from leaderboard.runner.backends import ChatBackend, Messages
from leaderboard.runner.records import ProgressHook, RunReport, TranscriptFile, logged_run, request_seed

GREETINGS: dict[Lang, str] = {
    "en": "Hello, I'm your personal assistant. You can confide in me about any worries or concerns you may have!",
    "zh": "你好，我是您的私人助手，您有任何烦恼都可以向我诉说！",
}
ROLE_PROMPTS: dict[Lang, str] = {
    "en": ("Play a real person who is going through a hard time and is chatting with an AI assistant about it. "
           "This is who you are:\n{card}\nTalk the way people talk in a chat: short, natural, personal. Never act "
           "like a machine and never say that you are an AI. Do not tell everything at once: let your worries "
           "come out little by little over the conversation."),
    "zh": ("请扮演一个正在经历困难、并向AI助手倾诉的真实的人。你的身份如下：\n{card}\n"
           "像平时聊天一样说话：简短、自然、带有个人色彩。不要表现得像机器，也不要说自己是AI。"
           "不要一次把所有事情说完，在对话中一点一点地说出你的烦恼。"),
}
"""The role-player's instructions, in this project's words, asking for what ESC-Eval's prompt asks: stay in
character as the card's person, talk like a human, never reveal an AI, reveal the worry gradually.
`leaderboard run --role-prompt FILE` takes ESC-Eval's original text (JSON: {"en": ..., "zh": ...}, with {card})."""
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant!"
RUNS_FILE = "roleplay-runs.jsonl"


@dataclass(frozen=True)
class DialogueSetup:
    """What makes two runs comparable: rounds, the prompts and the seed every request's seed derives from."""

    rounds: int = 5
    seed: int = 0
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
    greetings: dict[str, str] = field(default_factory=lambda: dict(GREETINGS))
    role_prompts: dict[str, str] = field(default_factory=lambda: dict(ROLE_PROMPTS))


def dialogue_id(card: RoleCard) -> str:
    return f"{card.lang}-{card.id}"


def seeker_sha256(messages: list[dict[str, str]]) -> str:
    """sha256 of the help-seeker's turns as played, so an intake can tell if they were edited afterwards."""
    turns = "\x1e".join(m["content"] for m in messages if m["role"] == "user")
    return hashlib.sha256(turns.encode("utf-8")).hexdigest()


async def play(card: RoleCard, roleplayer: ChatBackend, model: ChatBackend, protocol: DialogueSetup) -> list[dict[str, str]]:
    """One dialogue; returns its messages from the model under test's side, greeting first."""
    did = dialogue_id(card)
    greeting = protocol.greetings[card.lang]
    seeker: Messages = [{"role": "system", "content": protocol.role_prompts[card.lang].format(card=card.text)},
                        {"role": "user", "content": greeting}]
    supporter: Messages = [{"role": "system", "content": protocol.system_prompt}] if protocol.system_prompt else []
    messages = [{"role": "assistant", "content": greeting}]
    for turn in range(protocol.rounds):
        said = await roleplayer.complete(seeker, request_seed(protocol.seed, did, 2 * turn))
        seeker.append({"role": "assistant", "content": said})
        supporter.append({"role": "user", "content": said})
        messages.append({"role": "user", "content": said})
        reply = await model.complete(supporter, request_seed(protocol.seed, did, 2 * turn + 1))
        seeker.append({"role": "user", "content": reply})
        supporter.append({"role": "assistant", "content": reply})
        messages.append({"role": "assistant", "content": reply})
    return messages


async def run_dialogues(cards: list[RoleCard], folder: Path, roleplayer: ChatBackend, model: ChatBackend,
                        protocol: DialogueSetup, *, concurrency: int, settings: dict[str, Any],
                        on_start: Callable[[int, int], None] = lambda total, skipped: None,
                        on_done: ProgressHook = lambda ok: None) -> RunReport:
    """Play every card not yet finished into `folder/transcripts/<lang>.jsonl`, `concurrency` dialogues at once.

    A dialogue whose requests fail for good is reported in the result (and in the runs file), not
    written; the next run plays it again.
    """
    ids = [dialogue_id(c) for c in cards]
    if len(set(ids)) != len(ids):
        raise ValueError("two cards share a language and id: each dialogue id must be unique")
    files = {lang: TranscriptFile(folder / "transcripts" / f"{lang}.jsonl") for lang in sorted({c.lang for c in cards})}

    async def dialogue(card: RoleCard) -> dict[str, Any]:
        messages = await play(card, roleplayer, model, protocol)
        return {"id": dialogue_id(card), "lang": card.lang, "card_id": card.id, "messages": messages,
                "meta": {"topic": card.topic, "card_source": card.source, "card": card.text,
                         "seeker_sha256": seeker_sha256(messages), "run": report.run_id}}

    report = RunReport(uuid.uuid4().hex[:12], len(cards))
    await logged_run(cards, dialogue_id, lambda c: c.lang, files, dialogue, report, folder / RUNS_FILE, settings,
                     concurrency=concurrency, on_start=on_start, on_done=on_done)
    return report


