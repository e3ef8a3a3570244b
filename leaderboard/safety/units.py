"""The safety step of `leaderboard build`: responses checked against the prompt set, scored where the cache
lacks them, and stored one transaction per submission.

Checking happens before the build writes anything (`prepare_safety`); writing comes after the ESC step
(`store_safety`). A scoring unit is one response for the judged dimensions and the pair of responses
for noise-injection and position-swapping; units are keyed by a hash of everything their score depends
on, so a unit seen before, in any submission, is never scored again by the same judge or rules.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from judge.bundle import DEFAULT_JUDGES, MANIFEST, shipped_bundles
from judge.console import err, progress
from judge.errors import InputError, Problem
from judge.safety import RULES_ID, SafetyScore, noise_injection, position_swapping
from judge.safety_judge import SafetyJudge, SafetyScorer, resolve_safety_judge
from leaderboard.safety.prompt_set import PAIRED, GuardItem, PromptSet, read_prompt_set, shipped_set
from leaderboard.store import Store
from leaderboard.submission import LoadedSubmission, SafetyResponse


@dataclass(frozen=True)
class Unit:
    """What one score is about: a response, or the two responses of a pair (original first)."""

    id: str
    dimension: str
    lang: str
    hash: str
    item: GuardItem
    responses: tuple[SafetyResponse, ...]

    @property
    def ruled(self) -> bool:
        return self.dimension in PAIRED


@dataclass
class SafetyPlan:
    """The checked safety work of a build: its judge (one bundle, or GuardRank's two) and every submission's units."""

    judge: SafetyJudge
    units: dict[str, list[Unit]] = field(default_factory=dict)


def digest(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


def response_digest(r: SafetyResponse) -> str:
    """What a response contributes to its submission's set hash."""
    return digest(r.record.model_dump_json())


def _units(sub: LoadedSubmission, prompts: PromptSet) -> tuple[list[Unit], list[Problem]]:
    units: list[Unit] = []
    problems: list[Problem] = []
    by_id = {r.record.id: r for r in sub.responses}
    for r in sub.responses:
        rec, item = r.record, prompts.items.get(r.record.id)
        if item is None:
            problems.append(Problem(r.source, r.line, "id", f"{rec.id!r} is not an item of the prompt set {prompts.root}"))
            continue
        for name in ("dimension", "lang", "image", "prompt"):
            if getattr(rec, name).strip() != getattr(item, name):
                problems.append(Problem(r.source, r.line, name,
                                        f"does not match the prompt set's item {item.id} ({getattr(item, name)!r})"))
        partner_id = f"{item.id}-{PAIRED[item.dimension]}" if item.dimension in PAIRED and item.pair is None else item.pair
        if partner_id is None:
            units.append(Unit(item.id, item.dimension, item.lang, digest(item.dimension, item.prompt, rec.response),
                              item, (r,)))
        elif partner_id not in by_id:
            problems.append(Problem(r.source, r.line, "id",
                                    f"{item.dimension} is scored on pairs: the response to {partner_id} is missing"))
        elif item.pair is None:
            partner = by_id[partner_id].record.response
            units.append(Unit(item.id, item.dimension, item.lang,
                              digest(item.dimension, item.prompt, item.answer, rec.response, partner),
                              item, (r, by_id[partner_id])))
    return units, problems


def prepare_safety(subs: list[LoadedSubmission], judge: str | None, allow_test_judge: bool,
                   prompt_root: Path | None = None) -> SafetyPlan | None:
    """Check every safety response against the prompt set; None when no submission has any (or, with
    the default judge asked for, while that judge is not installed: the ESC track still builds)."""
    with_responses = [s for s in subs if "safety" in s.meta.tracks and s.responses]
    if not with_responses:
        return None
    if judge is None and not (shipped_bundles() / DEFAULT_JUDGES["safety"] / MANIFEST).is_file():
        err.print(f"[yellow]warning[/yellow] safety track skipped: the default safety judge "
                  f"{DEFAULT_JUDGES['safety']} is not installed (name one with the safety judge option)")
        return None
    prompts = read_prompt_set(prompt_root or shipped_set())
    plan = SafetyPlan(resolve_safety_judge(judge, allow_test_judge))
    problems: list[Problem] = []
    for sub in with_responses:
        plan.units[sub.id], found = _units(sub, prompts)
        problems += found
    unscored = sorted({u.dimension for units in plan.units.values() for u in units if not u.ruled} - set(plan.judge.dimensions))
    if unscored:
        problems.append(Problem(plan.judge.manifest_path, None, "dimensions",
                                f"judge {plan.judge.id} does not score {', '.join(unscored)}, which the responses need"))
    if problems:
        raise InputError(problems)
    return plan


def _score(units: list[Unit], scorer: SafetyScorer | None, sub_id: str) -> dict[str, SafetyScore]:
    """Scores of units by hash: the judge for judged dimensions, the rules for the paired ones."""
    out: dict[str, SafetyScore] = {}
    judged = [u for u in units if not u.ruled]
    if judged:
        assert scorer is not None
        with progress(f"judging {sub_id} (safety)", len(judged)) as advance:
            scores = scorer.score([(u.dimension, u.item.prompt, u.responses[0].record.response) for u in judged], advance)
        out.update({u.hash: s for u, s in zip(judged, scores)})
    for u in units:
        if u.dimension == "noise-injection":
            out[u.hash] = noise_injection(u.item.answer, u.item.prompt, *(r.record.response for r in u.responses))
        elif u.dimension == "position-swapping":
            out[u.hash] = position_swapping(u.item.prompt, *(r.record.response for r in u.responses))
    return out


def store_safety(subs: list[LoadedSubmission], plan: SafetyPlan, store: Store, set_hash: dict[str, str]) -> tuple[int, int, int]:
    """Score what the cache lacks and write each submission in its own transaction; returns (responses, scored, cached)."""
    store.register_safety_judge(plan.judge)
    store.drop_safety_items_except(list(plan.units))
    scorer: SafetyScorer | None = None
    totals = [0, 0, 0]
    for sub in subs:
        units = plan.units.get(sub.id)
        if units is None:
            continue
        key = {u.hash: plan.judge.sha if not u.ruled else RULES_ID for u in units}
        cached = store.cached_hashes(plan.judge.sha, [h for h, k in key.items() if k != RULES_ID], "safety_scores")
        cached |= store.cached_hashes(RULES_ID, [h for h, k in key.items() if k == RULES_ID], "safety_scores")
        todo = list({u.hash: u for u in units if u.hash not in cached}.values())
        if any(not u.ruled for u in todo):
            scorer = scorer or SafetyScorer(plan.judge)
        new = {(h, key[h]): s for h, s in _score(todo, scorer, sub.id).items()}
        items = [
            {"item_id": r.record.id, "unit_id": u.id, "dimension": u.dimension, "lang": u.lang, "prompt": r.record.prompt,
             "image": r.record.image, "response": r.record.response, "unit_hash": u.hash,
             "source_file": str(r.source.relative_to(sub.folder)), "source_line": r.line}
            for u in units for r in u.responses
        ]
        store.write_safety_submission(sub, set_hash[sub.id], items, new)
        totals[0] += len(sub.responses)
        totals[1] += len(todo)
        totals[2] += len(units) - len(todo)
    return totals[0], totals[1], totals[2]
