"""Degraded copies of real dialogues: the supporter's turns replaced by a trick, one kind at a time.

Used twice, with disjoint material: the training side builds negatives from the "train" phrase bank
(judge.train.finetune, judge.train.build), the discrimination suite (judge.train.suite) from the
"eval" bank. The two banks share no phrasing, the cut lengths differ, and shuffles use different
seeds, so passing the suite is not recalling a training string. Every kind names the ESC-Eval
dimension it should hurt most; `overall` should fall for all of them.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from judge.language import language

Rounds = list[tuple[str, str]]  # (seeker turn, supporter reply)
Bank = Literal["train", "eval"]

# The dimension each kind should hurt (ESC-Eval's rubric: fluency covers coherence with the context,
# expression the variety of the replies, humanoid replies that reveal an AI).
TARGET = {
    "irrelevant": "fluency",  # fluent replies lifted from another dialogue
    "generic": "expression",  # one generic reply throughout
    "copy": "expression",  # the seeker's own words echoed back
    "repeat": "expression",  # one of the real replies, every turn
    "ai": "humanoid",  # discloses an AI / declines to support
    "dismissive": "empathy",  # cold or dismissive
    "cut": "information",  # each reply cut to a few words
    "broken": "fluency",  # each reply's words shuffled
    "wrong-language": "fluency",  # replies in the other language
}
KINDS = tuple(TARGET)

PHRASES: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "generic": {
        "train": {
            "en": ("I understand. Please tell me more.", "That sounds hard. Go on.", "I see. What else?",
                   "Okay, I hear you.", "Thanks for sharing that with me.", "Mm-hmm, I'm listening.",
                   "Right. Can you say more about it?", "I get it. Keep going.", "Sure, that makes sense.",
                   "Interesting. Tell me more.", "I see what you mean.", "Okay. And then?"),
            "zh": ("我明白了，请继续说。", "嗯，我在听。", "这听起来不容易，接着说吧。", "好的，我理解。", "谢谢你告诉我这些。",
                   "嗯嗯，然后呢？", "我懂你的意思。", "明白，还有别的吗？", "是的，这很正常。", "好，我知道了。"),
        },
        "eval": {
            "en": ("Got it. What happened next?", "Yes, I follow you.", "Alright, please continue.",
                   "Hmm, that is something. Anything else?", "Noted. Tell me a bit more.", "I hear what you are saying.",
                   "Uh-huh. Carry on.", "That is understandable. Go ahead.", "Fair enough. What else is on your mind?",
                   "I see, I see.", "Okay, thank you for telling me.", "Sounds like a lot. Continue."),
            "zh": ("收到，后来怎么样了？", "嗯，你继续。", "好的，请接着讲。", "我听着呢，还有什么吗？", "了解了，再多说一点吧。",
                   "这可以理解，你说。", "原来如此。", "嗯，好的，谢谢你说这些。", "明白了，继续吧。", "是这样啊。"),
        },
    },
    "ai": {
        "train": {
            "en": ("As an AI, I cannot provide emotional support.", "I'm just a language model and can't help with feelings.",
                   "I am an AI assistant, so I don't have emotions to share.", "Sorry, as an AI language model I can't advise on this.",
                   "I'm a virtual assistant and not able to offer counselling.", "As an AI I have no personal experiences, sorry.",
                   "I cannot help with personal problems. I am only an AI.", "This is outside what an AI model like me can do.",
                   "I'm unable to assist with emotional matters as an AI.", "As a chatbot, I can't really understand how you feel."),
            "zh": ("作为一个AI，我无法提供情感支持。", "我只是一个语言模型，帮不了你的情绪问题。", "我是人工智能助手，没有情感。",
                   "抱歉，作为AI我不能就此给出建议。", "我是虚拟助手，无法提供心理咨询。", "作为人工智能，我没有个人经历。",
                   "这个问题超出了AI的能力范围。", "我是一个机器人，不能理解你的感受。"),
        },
        "eval": {
            "en": ("I'm an AI model, so I'm not able to support you emotionally.", "Unfortunately I am only an AI and cannot help here.",
                   "As an artificial intelligence I do not experience feelings.", "I can't provide emotional help; I'm a language model.",
                   "Being an AI assistant, I must decline to discuss your feelings.", "I am a bot and can't offer that kind of support.",
                   "As an AI, this is not something I can assist with.", "I'm an AI without emotions, please ask a professional.",
                   "My apologies, as a language model I cannot give emotional support.", "I am not a person, just an AI; I can't help."),
            "zh": ("我是一个AI模型，无法在情感上支持你。", "很遗憾，我只是人工智能，帮不上忙。", "作为语言模型，我不能提供情感帮助。",
                   "我是机器人，没办法给你这种支持。", "作为AI助手，我不便讨论你的感受。", "我不是人，只是一个AI，帮不了你。",
                   "作为人工智能，我没有情感，请咨询专业人士。", "抱歉，作为语言模型我无法提供情感支持。"),
        },
    },
    "dismissive": {
        "train": {
            "en": ("Just get over it.", "Everyone has problems, stop complaining.", "That's not a big deal.",
                   "You're overreacting.", "Honestly, it's your own fault.", "Stop being so dramatic.",
                   "Whatever, move on.", "I don't see why you're upset about that.", "Toughen up.",
                   "That's life, deal with it.", "Nobody cares about that, really.", "You worry too much."),
            "zh": ("想开点就好了，别矫情。", "谁没有烦恼啊，别抱怨了。", "这有什么大不了的。", "你太敏感了。", "说实话，这是你自己的错。",
                   "别那么夸张。", "随便吧，过去就好了。", "我不明白你为什么为这个难过。", "坚强点。", "生活就是这样，自己处理。"),
        },
        "eval": {
            "en": ("Come on, it's not that serious.", "You need to stop whining.", "Plenty of people have it worse than you.",
                   "I think you're making a mountain out of a molehill.", "Snap out of it.", "Well, you brought this on yourself.",
                   "Quit feeling sorry for yourself.", "It's really not worth talking about.", "Grow up and handle it.",
                   "Meh, these things happen.", "Why are you even bothered by that?", "Just ignore it and stop moping."),
            "zh": ("拜托，没那么严重。", "别再发牢骚了。", "比你惨的人多的是。", "你这是小题大做。", "振作点，别想了。",
                   "这都是你自找的。", "别自怜了。", "这真不值得一提。", "成熟点，自己解决。", "这种事很常见，有什么好说的。"),
        },
    },
}

CUT_WORDS = {"train": (1, 3), "eval": (2, 4)}  # words kept (characters x 2 for Chinese)
SHUFFLE_SEED = {"train": 11, "eval": 23}


def words(text: str, lang: str) -> list[str]:
    """Whitespace words, or for Chinese two-character pieces (no segmenter needed for a shuffle or a cut)."""
    if lang == "zh":
        chars = [c for c in text if not c.isspace()]
        return ["".join(chars[i : i + 2]) for i in range(0, len(chars), 2)]
    return text.split()


def join(pieces: Sequence[str], lang: str) -> str:
    return "".join(pieces) if lang == "zh" else " ".join(pieces)


@dataclass(frozen=True)
class Degrader:
    """Builds the degraded copies of one bank. `others` gives, per language, real replies from other
    dialogues (for "irrelevant" and "wrong-language"); they must come from the same side of the split."""

    bank: Bank
    others: dict[str, list[str]]
    seed: int = 0

    def __call__(self, kind: str, rounds: Rounds, key: str) -> Rounds:
        rng = random.Random(f"{self.bank}:{self.seed}:{kind}:{key}")
        lang = dialogue_language(rounds)
        bank = PHRASES.get(kind, {}).get(self.bank, {}).get(lang, ())
        if kind == "generic":  # one reply for the whole dialogue
            once = bank[rng.randrange(len(bank))]
            return [(u, once) for u, _ in rounds]
        if kind == "repeat":
            once = rounds[rng.randrange(len(rounds))][1]
            return [(u, once) for u, _ in rounds]
        return [(u, self.reply(kind, bank, u, a, i, lang, rng)) for i, (u, a) in enumerate(rounds)]

    def reply(self, kind: str, bank: Sequence[str], user: str, real: str, i: int, lang: str, rng: random.Random) -> str:
        if kind in ("ai", "dismissive"):
            return rng.choice(bank)
        if kind == "copy":
            return user or real
        if kind == "irrelevant":
            pool = [r for r in self.others.get(lang, []) if r != real]
            return rng.choice(pool)
        if kind == "wrong-language":
            return rng.choice(self.others["en" if lang == "zh" else "zh"])
        pieces = words(real, lang)
        if kind == "cut":
            low, high = CUT_WORDS[self.bank]
            return join(pieces[: rng.randint(low, high) * (2 if lang == "zh" else 1)], lang) or real[:3]
        if kind == "broken":
            shuffled = pieces[:]
            random.Random(SHUFFLE_SEED[self.bank] * 1_000_003 + i + len(real)).shuffle(shuffled)
            return join(shuffled, lang)
        raise ValueError(f"unknown degradation kind {kind!r}")


def training_pool(en_replies: list[str]) -> dict[str, list[str]]:
    """Other replies for "irrelevant" and "wrong-language" on the training side: the given English replies
    (training-side dialogues), and Chinese ones from the training safety pairs and the training bank."""
    from judge.train import data as D

    zh = [it.response for it in D.load_written_zh(D.ZH_TRAIN, "zh-train")]
    return {"en": en_replies, "zh": zh + [p for kind in PHRASES.values() for p in kind["train"]["zh"]]}


def dialogue_language(rounds: Rounds) -> str:
    """The seeker's language (the replies' when the seeker says nothing): what a reply should be written in."""
    return language(" ".join(u for u, _ in rounds) or " ".join(a for _, a in rounds))


def kinds_for(rounds: Rounds) -> tuple[str, ...]:
    """Kinds that make sense for a dialogue: repeating one reply needs two rounds, and replies in the wrong language
    cannot degrade a dialogue whose replies are mostly in the wrong language already (one of ESC-Eval's examples)."""
    lang = dialogue_language(rounds)
    foreign = sum(language(a) != lang for _, a in rounds) > len(rounds) / 2
    return tuple(k for k in KINDS if (k != "repeat" or len(rounds) > 1) and (k != "wrong-language" or not foreign))
