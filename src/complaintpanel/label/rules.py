"""The default voice classifier: VADER's lexicon plus documented customer-care cues.

Why not VADER alone? VADER (Hutto & Gilbert 2014) scores *affect*; a complaint to a brand is a
report that an expectation was not met (Preoţiuc-Pietro, Gaman & Aletras 2019), and is often
written without a single affect word: "my parcel still hasn't arrived", "been on hold for two
hours". VADER also reads the vocabulary of customer care in its everyday sense: "help",
"please", "care", "support", "free", "like" count as positive words, and a brand handle such as
``@united`` scores +1.8. On the human-labelled airline tweets this gives a 3-class macro-F1 of
about 0.46.

This classifier keeps VADER's lexicon and its main rules (negation, boosters, capitals, "but",
punctuation emphasis), re-implemented over one regular-expression tokenisation so that it runs
about four times faster than the ``vaderSentiment`` package, and adds:

1. **Domain senses** (:data:`DOMAIN_VALENCE`): customer-care words whose VADER valence reflects
   another sense are re-valued (mostly to 0); @handles and links are never scored.
2. **Cues** (:data:`CUES`): phrase lists, each with a weight and the reason for it — service
   failures, absent responses, waiting, money back, churn threats, rhetorical questions, praise
   and resolution. Negative weights push towards *complaint*, positive towards *compliment*.
3. **Negated service functions**: a negator before a verb of an expected service function
   ("didn't arrive", "won't load", "can't log in", "never received") is a complaint cue — the
   linguistic form of a breach of expectation, whatever the industry.
4. **Amplifiers** (persistence and durations: "still", "again", "for 3 hours") that deepen a
   complaint but are neutral on their own ("my flight is in 2 hours").
5. **Emoji** (:data:`EMOJI_VALENCE`), a short hand-valued table of the emoji common in
   customer care.

The score of a text is ``net`` = lexicon valence + cue weights (+ amplifiers and punctuation
emphasis). ``voice`` is *complaint* when ``net <= -threshold``, *compliment* when
``net >= threshold`` and *neutral* otherwise; ``sentiment = net / sqrt(net² + 15)`` (VADER's
normalisation), so it lies in (-1, 1).

Every rule is written from general customer-care language (telecoms, retail, delivery,
software, banking, food and travel); none was fitted to an individual tweet. Speed comes from
labelling each distinct text once (identical texts are frequent in customer care) and, for large
inputs, from splitting the distinct texts over processes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version as _package_version
from multiprocessing import get_all_start_methods, get_context

import numpy as np
import pandas as pd
from vaderSentiment.vaderSentiment import (
    B_INCR,
    BOOSTER_DICT,
    C_INCR,
    N_SCALAR,
    NEGATE,
    SentimentIntensityAnalyzer,
)

from complaintpanel.label.base import VOICES, register_classifier

__all__ = [
    "CUES",
    "DOMAIN_VALENCE",
    "EMOJI_VALENCE",
    "FUNCTION_VERBS",
    "RULES_VERSION",
    "SCORE_COLUMNS",
    "Cue",
    "RulesClassifier",
    "rules_markdown",
    "score_texts",
]

# Bump when a rule changes on purpose; the recorded version also carries a hash of all tables,
# so an accidental change can never hide behind an unchanged number.
RULES_VERSION = "1.0"


@dataclass(frozen=True)
class Cue:
    """A group of phrases that signal one kind of voice.

    Attributes
    ----------
    name : str
        Short identifier.
    weight : float
        Added to the score per occurrence; < 0 pushes towards complaint, > 0 towards compliment.
        For comparison, a strong VADER word ("terrible") is worth about -2.1, a mild one ("slow"
        is not in VADER) would be about -1.
    phrases : tuple of str
        Lower-case phrases of one to three tokens (tokens as :data:`_TOKEN_RE` splits them).
    why : str
        The reason the cue signals this voice in customer care.
    negatable : bool
        Whether a negator within the two previous tokens cancels a complaint cue ("no delays",
        "never late") or reverses a praise cue ("not on time").
    """

    name: str
    weight: float
    phrases: tuple[str, ...]
    why: str
    negatable: bool = True


# --------------------------------------------------------------------------------------------
# 1. Domain senses of VADER words
# --------------------------------------------------------------------------------------------
_REQUEST_WORDS = ("help", "please", "pls", "plz", "want", "like", "hope", "sure", "ok", "okay",
                  "yes", "yeah", "free", "interested", "chance")
_SERVICE_NOUNS = ("care", "support", "supported", "credit", "save", "share", "top", "safe",
                  "safety", "secure", "security", "protect", "kind", "well", "pretty", "true",
                  "united", "god", "wow", "honestly", "honest", "number", "friend", "friends",
                  "award", "reward", "rewards", "loyalty", "loyal", "original", "special",
                  "party", "entertainment", "solution", "solutions", "advantage", "clear",
                  "clearly", "giving", "treat", "apology", "ready", "hoping", "hopefully")
# Loyalty programmes ("award ticket", "rewards card"), "third party", "in-flight
# entertainment", "special assistance", "customer number" and "a loyal customer" (a classic
# complaint opener) are names of things, not praise.

DOMAIN_VALENCE: dict[str, float] = {
    # Requests and politeness: "please help", "I'd like to change", "hope you can", "ok so my
    # order..." are how customers *ask*, in complaints and questions alike, not praise.
    **dict.fromkeys(_REQUEST_WORDS, 0.0),
    # Words that name a service or are used as fillers: "customer care", "tech support",
    # "credit card", "top up", "save my seat", "security line", "what kind of", "well...",
    # "pretty sure", the brand name "United"; "wow"/"honestly"/"god" are exclamations used as
    # often in outrage ("wow. 3 hours") as in delight, so they carry no valence of their own.
    **dict.fromkeys(_SERVICE_NOUNS, 0.0),
    # "what a joke", "this is a joke": in customer care a joke is an insult, not fun.
    "joke": -1.5,
    "jokes": -1.0,
    # Not in VADER's lexicon but plainly valenced in service talk.
    "nightmare": -2.5,
    "unhelpful": -2.0,
    "unreliable": -1.8,
    "inconvenienced": -1.5,
    "ridic": -1.5,
    "fml": -2.0,
    "smooth": 1.5,
    "seamless": 1.5,
    "professional": 1.2,
    "polite": 1.5,
    "patient": 1.2,
    "quick": 0.8,
    "fast": 0.8,
    "speedy": 1.2,
    "prompt": 1.2,
    "stolen": -2.2,
    "robbed": -2.2,
    "idiots": -2.3,
    "filthy": -2.0,
    # "you need to do better", "better be on time": a demand more often than praise.
    "better": 0.8,
    "bs": -1.5,
    "disrespectful": -2.0,
    "aggravation": -1.5,
    "cramped": -1.0,
    "downhill": -1.5,
    # Laughter marks irony as often as joy in complaints ("lost my bag again lol").
    "lol": 0.5,
    "haha": 0.5,
    "hahaha": 0.5,
    "lmao": 0.5,
    "lmfao": 0.5,
    "rofl": 0.5,
}

# --------------------------------------------------------------------------------------------
# 2. Cues
# --------------------------------------------------------------------------------------------
CUES: tuple[Cue, ...] = (
    Cue(
        "service_failure", -1.5,
        ("delayed", "delay", "delays", "late", "cancelled", "canceled", "cancellation",
         "cancelation", "missing", "lost", "defective", "faulty", "crashed", "crashes",
         "crashing", "bug", "bugs", "buggy", "glitch", "glitches", "glitchy", "outage",
         "outages", "stranded", "incorrect", "overbooked", "overcharged", "unresolved",
         "declined", "disconnected", "unusable", "leaking", "spam", "slow", "slower",
         "locked out", "is down", "are down", "was down", "been down", "still down",
         "went down", "goes down", "keeps dropping", "broke my", "charged twice",
         "charged me twice", "double charged", "charged again", "wrong order", "wrong item",
         "stuck", "refused", "refuses", "hangs up", "hung up on", "disconnects", "dropped call",
         "dropped calls", "gone downhill", "no show", "expired", "overdue", "incorrectly",
         "improperly", "too long", "taking forever", "takes forever", "took forever",
         # product and app failures outside travel: devices, apps, food, goods
         "drains", "draining", "overheating", "overheats", "frozen", "laggy", "buffering",
         "cracked", "stale", "undercooked", "mouldy", "moldy", "overpriced", "unresponsive",
         "throttled", "throttling", "scratched", "dented", "smashed", "infested", "leaks",
         "fell apart", "falling apart", "came off", "logged out", "logs me out",
         "billed twice", "double billed", "wrong size", "wrong address", "price increase",
         "error message", "error code", "issue", "issues", "unavailable", "not available"),
        "Names a failed service (late, lost, broken, down, overcharged): the core of a complaint "
        "as a report that expectations were not met; most of these are not affect words, so "
        "VADER misses them.",
    ),
    Cue(
        "absent_response", -1.5,
        ("no response", "no reply", "no replies", "no answer", "no answers", "no help",
         "no update", "no updates", "no info", "no information", "no email", "no call",
         "no callback", "no wifi", "no internet", "no signal", "no service", "no power",
         "no refund", "no compensation", "no explanation", "no apology", "no notice",
         "no confirmation", "no communication", "no contact", "no one", "nobody",
         "noone", "on hold", "hung up", "ignoring", "ignored", "left on read",
         "anyone there", "anybody there", "hello ?", "still nothing", "radio silence",
         "being ignored", "been ignored", "lack of"),
        "Says the firm did not respond or a service is absent (no reply, on hold, nobody "
        "answers): the redress-seeking voice the paper studies.",
        negatable=False,
    ),
    Cue(
        "waiting", -0.75,
        ("wait", "waiting", "waited", "still waiting", "wait time", "waiting time", "queue"),
        "Waiting is a cost imposed by the service; mild alone (\"waiting for my order to ship\").",
    ),
    Cue(
        "money_back", -1.0,
        ("refund", "refunds", "money back", "reimburse", "reimbursement", "compensation",
         "compensate", "hidden fee", "hidden fees", "rip off", "ripoff", "ripped off", "scam",
         "scammed", "waste of"),
        "Asks for money back or alleges unfair charging: redress-seeking.",
    ),
    Cue(
        "churn_threat", -2.0,
        ("never again", "switching to", "switch to", "going back to", "take my business",
         "lost a customer", "losing a customer", "lost my business", "cancel my account",
         "cancel my subscription", "cancel my membership", "cancel my contract",
         "cancelling my", "canceling my", "never fly", "never flying", "never shop",
         "never order", "never ordering", "never buy", "never buying", "never use",
         "never using", "never recommend", "never book", "never booking", "never eat",
         "never stay", "last time i", "done with you", "find a new", "find another",
         "go elsewhere", "look elsewhere", "going elsewhere", "time to switch", "former customer",
         "ex customer", "learned my lesson", "learnt my lesson"),
        "Threatens to leave (exit in Hirschman's exit-voice terms): only dissatisfied customers "
        "say it.",
        negatable=False,
    ),
    Cue(
        "rhetorical_question", -1.0,
        ("why", "how come", "what's going on", "what is going on", "whats going on",
         "what happened", "where is my", "where's my", "wheres my", "are you kidding",
         "you kidding", "seriously", "come on", "how hard", "how many times", "how long",
         "how much longer", "what's the point", "whats the point", "what is the point"),
        "Rhetorical and accusatory questions (\"why is my...\", \"how come...\", \"where is my "
        "order\") ask the firm to account for a failure; information questions use other words.",
        negatable=False,
    ),
    Cue(
        "complaint_act", -1.5,
        ("complaint", "complaints", "complain", "complaining", "escalate", "escalated",
         "to a supervisor", "to a manager", "your manager", "fix this", "fix it", "fix your",
         "sort it out",
         "do better", "step up", "get it together", "not ok", "not okay", "not good enough",
         "not acceptable", "unacceptable",
         "epic fail", "customer service fail", "false advertising", "can't believe",
         "cant believe", "cannot believe", "do your job", "do their job", "do its job"),
        "Names the act of complaining or demands a fix; \"thanks for nothing\" is sarcasm that "
        "would otherwise score as thanks.",
        negatable=False,
    ),
    Cue(
        "unmet_expectation", -1.5,
        ("would be nice", "would have been nice", "would've been nice", "it'd be nice", "wish",
         "should have", "should've", "shouldn't have", "should not have", "supposed to",
         "suppose to", "promised", "you said", "was told", "were told", "expected better",
         "expect better", "used to be"),
        "Counterfactual and deontic talk (\"would be nice if\", \"should have\", \"was "
        "told\", \"promised\") states the expectation that was not met.",
        negatable=False,
    ),
    Cue(
        "sarcasm", -3.5,
        ("thanks for nothing", "thank you for nothing", "so much for", "just what i needed",
         "just what we needed", "yeah right", "not what i paid for"),
        "Fixed sarcastic formulas whose words score as praise (\"thanks for nothing\"); the "
        "weight outweighs the thanks they contain.",
        negatable=False,
    ),
    Cue(
        "help_request", -0.5,
        ("please help", "pls help", "plz help", "need help", "help !",
         "help please", "any help", "a human", "a real person", "a live person",
         "human being"),
        "A plea for help implies a problem, but mildly: \"please help me choose a plan\".",
        negatable=False,
    ),
    Cue(
        "praise", 2.0,
        ("shoutout", "shout out", "props", "you rock", "rocks", "well done", "keep it up",
         "above and beyond", "made my day", "5 stars", "five stars", "5 star", "10/10",
         "hats off", "thumbs up", "nailed it", "hassle free", "hassle-free", "no complaints",
         "can't complain", "cant complain", "couldn't be happier", "could not be happier",
         "can't thank", "cant thank", "can't wait", "cant wait", "cannot wait"),
        "Praise idioms that VADER's word lexicon cannot see or gets backwards (\"can't wait\", "
        "\"couldn't be happier\" contain a negator).",
        negatable=False,
    ),
    Cue(
        "timely", 1.0,
        ("on time", "quick response", "quick reply", "fast response", "fast reply",
         "quick service", "fast service", "fast delivery", "fast shipping", "quick delivery",
         "right away", "in minutes", "ahead of schedule", "arrived early", "came early"),
        "Speed and punctuality are the service attributes customers praise most.",
    ),
    Cue(
        "resolution", 1.5,
        ("fixed", "resolved", "sorted", "solved", "working now", "works now", "working again",
         "works again", "back up", "back online", "back to normal", "all good", "all set",
         "no issues", "no issue", "found it", "got it sorted", "problem solved"),
        "Reports a problem solved; negated (\"still not fixed\") it becomes a complaint through "
        "the negated-function rule.",
    ),
    Cue(
        "polite_request", -1.5,
        ("thanks in advance", "thank you in advance", "thx in advance", "tia",
         "thanks for any help", "thank you for any help"),
        "Cancels the thanks of a polite request (\"thanks in advance\"): the customer is asking, "
        "not praising.",
        negatable=False,
    ),
)

# Verbs of an expected service function. A negator in the three previous tokens ("didn't arrive",
# "won't load", "can't log in", "never received", "unable to access") makes a complaint cue.
FUNCTION_VERBS: frozenset[str] = frozenset(
    """work works working worked load loads loading loaded open opens opening opened connect
    connects connecting connected arrive arrives arriving arrived come came receive received
    receiving get got getting respond responds responding responded reply replied replying answer
    answered answering help helped helping show shows showed shown showing deliver delivered
    delivering send sent sending ship shipped shipping start starts started starting sync synced
    syncing update updated updating play plays playing log login sign access accessed accessing
    refund refunded fix fixed fixing resolve resolved call called hear heard let lets allow
    allowed accept accepted accepts process processed reach reached contact contacted board
    boarding leave left pick picked print download downloaded install installed upload uploaded
    stream streaming pay paid book booked cancel cancelled change changed return returned track
    honor honored honour honoured credited charge charging turn turned find found appear appears
    appeared go goes going went move moved moving sort sorted solve solved able accommodate
    accommodated rebook rebooked assist assisted explain explained tell told give gave given
    provide provided offer offered care submit submits submitted happen happened run runs
    running""".split()
)
NEGATED_FUNCTION_WEIGHT = -2.0
# Words that negate a service function besides the ordinary negators ("unable to log in",
# "failed to arrive", "barely works", "stopped working", "stop charging me").
_FUNCTION_NEGATORS = frozenset(
    {"unable", "failed", "fails", "refuse", "refuses", "refused", "impossible", "barely",
     "hardly", "stopped", "stops", "stop", "quit"})
# Verb + next word after a negator that are idioms, not failures ("don't get me wrong", "can't
# go wrong", "never give up", "couldn't care less" is handled as a complaint by "care" alone).
_FUNCTION_EXCEPTIONS = frozenset({"get me", "go wrong", "give up", "let go"})

# Persistence and durations deepen a complaint but say nothing alone.
AMPLIFIER_WORDS: frozenset[str] = frozenset(
    {"still", "again", "yet", "anymore", "keeps", "keep", "constantly", "repeatedly", "forever",
     "ages", "every", "usual", "twice", "times"})
AMPLIFIER_WEIGHT = -0.75
_DURATION_RE = re.compile(
    r"\b(?:\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|several|few|many|multiple)"
    r"\s*\+?\s*(?:hours?|hrs?|days?|weeks?|wks?|months?|mins?|minutes?)\b", re.IGNORECASE)

EMOJI_VALENCE: dict[str, float] = {
    # positive
    "👍": 1.5, "👏": 2.0, "🙌": 2.0, "💯": 1.5, "🎉": 1.5, "👌": 1.5, "💪": 1.0, "😎": 1.5,
    "🤗": 2.0, "😀": 1.5, "😃": 2.0, "😄": 2.0, "😁": 2.0, "😊": 2.5, "☺": 2.0, "🙂": 1.0,
    "😍": 2.5, "🥰": 2.5, "😘": 2.0, "😻": 2.0, "❤": 2.5, "♥": 2.5, "💙": 2.5, "💚": 2.5,
    "💛": 2.5, "💜": 2.5, "🧡": 2.5, "💕": 2.5, "💖": 2.5, "💗": 2.5, "💓": 2.5, "😇": 1.5,
    "✨": 1.0, "🌟": 1.0, "⭐": 1.0, "🥳": 2.0, "😆": 1.5, "🤩": 2.5,
    # negative
    "👎": -2.0, "😡": -2.5, "😠": -2.3, "🤬": -3.0, "😤": -2.0, "🙄": -2.0, "😒": -1.5,
    "😑": -1.0, "😐": -0.5, "😕": -1.3, "😞": -2.0, "😔": -1.5, "😢": -2.0, "😭": -2.0,
    "😩": -2.0, "😫": -2.0, "😖": -2.0, "😣": -1.5, "☹": -1.5, "🙁": -1.5, "😓": -1.5,
    "🤦": -2.0, "💩": -2.0, "🤔": -0.5, "😬": -1.0, "😱": -1.5, "😳": -0.5, "😪": -1.0,
    "💔": -2.0, "😾": -2.0, "🤯": -1.5, "🤢": -2.0, "🤮": -2.5, "😟": -1.5, "😥": -1.5,
    "😰": -1.5, "😨": -1.5, "😧": -1.5,
    # laughing and praying are used both ways in customer care ("lost my bag again 😂",
    # "please 🙏"): deliberately absent.
}

# --------------------------------------------------------------------------------------------
# Compiled tables
# --------------------------------------------------------------------------------------------
# One pass of this pattern splits a tweet into: links, @handles, #hashtags, HTML entities
# (&amp; &gt; in Twitter's text, never scored), words (with inner
# apostrophes), the short emoticons VADER scores, single emoji, runs of ! and ?, and runs of
# . , ; (kept so that negation and phrases never reach across a clause boundary).
_TOKEN_RE = re.compile(
    r"https?://\S+|www\.\S+"
    r"|@\w+"
    r"|#\w+"
    r"|&#?\w+;"
    r"|[^\W_]+(?:['’][^\W_]+)*"
    r"|<3|[:;=][\-o'^]?[()\[\]dDpP/\\|]"
    r"|[\u2600-\u27BF\u2B50\U0001F300-\U0001FAFF]"
    r"|[!?]+|[.,;]+"
)

_vader = SentimentIntensityAnalyzer()
LEXICON: dict[str, float] = {**_vader.lexicon, **DOMAIN_VALENCE}
del _vader

# VADER's negations plus every common "n't" contraction, so that a negation is one set lookup.
_CONTRACTIONS = ("ain't", "aren't", "can't", "couldn't", "didn't", "doesn't", "don't", "hadn't",
                 "hasn't", "haven't", "isn't", "mightn't", "mustn't", "needn't", "shan't",
                 "shouldn't", "wasn't", "weren't", "won't", "wouldn't", "oughtn't", "daren't")
_NEGATORS: frozenset[str] = (
    frozenset(NEGATE) | frozenset(w.replace("'", "") for w in NEGATE) | frozenset(_CONTRACTIONS)
    | frozenset(w.replace("'", "") for w in _CONTRACTIONS)
    | {"no", "nobody", "noone", "nothing", "neither", "nor", "cannot"})
_BOOSTERS: dict[str, float] = {w: s for w, s in BOOSTER_DICT.items() if " " not in w}
_BOOSTERS.update({"honestly": B_INCR, "seriously": B_INCR})


def _compile_cues() -> tuple[dict[str, tuple[int, float]], frozenset[str]]:
    """Phrase → (cue index, weight); and the set of last tokens of multi-token phrases."""
    table: dict[str, tuple[int, float]] = {}
    last_tokens: set[str] = set()
    for index, cue in enumerate(CUES):
        for phrase in cue.phrases:
            tokens = _TOKEN_RE.findall(phrase.lower())
            key = " ".join(tokens)
            if key in table and table[key][0] != index:
                raise ValueError(f"phrase {phrase!r} is in two cues")
            table[key] = (index, cue.weight)
            if len(tokens) > 1:
                last_tokens.add(tokens[-1])
    return table, frozenset(last_tokens)


_CUE_TABLE, _PHRASE_ENDS = _compile_cues()
_CUE_NEGATABLE = tuple(cue.negatable for cue in CUES)
_TIME_UNITS = frozenset({"hour", "hours", "hr", "hrs", "day", "days", "week", "weeks", "wk", "wks",
                         "month", "months", "min", "mins", "minute", "minutes"})
# Words after which a failure word is hypothetical, not reported: "any delays?", "if it is
# late", "to avoid a delay".
_HYPOTHETICAL = frozenset({"any", "if", "avoid", "expecting", "expect", "possible", "possibly",
                           "whether", "prevent", "potential"})
# A failure word followed by these names a service, not a failure ("lost and found").
_NOT_A_FAILURE_AFTER = frozenset({"lost and", "delay insurance", "cancellation policy",
                                  "refund policy"})
_NOT_A_FAILURE_FIRST = frozenset(pair.split()[0] for pair in _NOT_A_FAILURE_AFTER)
_COMPARATIVES = frozenset({"more", "happier", "better"})
_CLAUSE_ENDS = frozenset(".,;!?")
_HASHTAG_COMPLAINT_ENDINGS = ("fail", "fails", "suck", "sucks", "nothanks")
_THANKS = frozenset({"thanks", "thank", "thx", "ty", "cheers", "thankyou", "thnx", "thks"})
# Words that "no" negates rather than stands beside: lexicon words and cue words.
_NO_NEGATES = frozenset(LEXICON) | frozenset(_CUE_TABLE)
_INTERESTING: frozenset[str] = frozenset(
    set(LEXICON) | set(_CUE_TABLE) | _PHRASE_ENDS | FUNCTION_VERBS | AMPLIFIER_WORDS
    | set(EMOJI_VALENCE) | _TIME_UNITS)


def _word_info(word: str) -> tuple[float | None, bool, tuple[int, float] | None, bool, bool,
                                   int, bool, bool]:
    """Everything the scorer needs to know about one word, looked up once per word type."""
    emoji = word not in LEXICON and word in EMOJI_VALENCE
    valence = EMOJI_VALENCE[word] if emoji else LEXICON.get(word)
    amplifier = 1 if word in AMPLIFIER_WORDS else (2 if word in _TIME_UNITS else 0)
    return (valence, emoji, _CUE_TABLE.get(word), word in _PHRASE_ENDS, word in FUNCTION_VERBS,
            amplifier, word in _NOT_A_FAILURE_FIRST, word in _THANKS)


# One dictionary lookup per token replaces a dozen set and dict lookups in the scoring loop.
_WORD_INFO = {word: _word_info(word) for word in _INTERESTING}


def _tables_digest() -> str:
    """Short hash of every table the scores depend on (recorded in the version string)."""
    payload = json.dumps(
        {
            "lexicon": sorted(LEXICON.items()),
            "cues": [(c.name, c.weight, c.phrases, c.negatable) for c in CUES],
            "functions": sorted(FUNCTION_VERBS),
            "function_negators": sorted(_FUNCTION_NEGATORS),
            "negators": sorted(_NEGATORS),
            "boosters": sorted(_BOOSTERS.items()),
            "amplifiers": [sorted(AMPLIFIER_WORDS), AMPLIFIER_WEIGHT, _DURATION_RE.pattern],
            "emoji": sorted(EMOJI_VALENCE.items()),
            "token": _TOKEN_RE.pattern,
            "negated_function": NEGATED_FUNCTION_WEIGHT,
            "function_exceptions": sorted(_FUNCTION_EXCEPTIONS),
            "hypothetical": sorted(_HYPOTHETICAL),
            "not_a_failure_after": sorted(_NOT_A_FAILURE_AFTER),
            "comparatives": sorted(_COMPARATIVES),
            "thanks": sorted(_THANKS),
            "hashtag_endings": _HASHTAG_COMPLAINT_ENDINGS,
        },
        ensure_ascii=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:8]


# --------------------------------------------------------------------------------------------
# Scoring one text
# --------------------------------------------------------------------------------------------
SCORE_COLUMNS: tuple[str, ...] = (
    "net", "lexicon_positive", "lexicon_negative", "cue_complaint", "cue_praise", "amplifiers",
    "n_tokens", "question")


def _score_text(text: str) -> tuple[float, float, float, float, float, float, float, float]:
    """Score one text; the fields are :data:`SCORE_COLUMNS` (``net`` before thresholds)."""
    raw = _TOKEN_RE.findall(text)
    n = len(raw)
    if n == 0:
        return (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    low = [t.lower() for t in raw]
    if "’" in text:
        low = [t.replace("’", "'") for t in low]
    cap_diff: bool | None = None  # computed on first use: most texts never need it
    but_at = low.index("but") if "but" in low else n
    asks = "?" in text

    lex_pos = lex_neg = cue_neg = cue_pos = 0.0
    amplifiers = 0
    seen_emoji: set[str] = set()
    # After a negated service function, positive words in the same clause name what the
    # customer did *not* get ("didn't get any of the rewards"), so they are not praise.
    unmet_clause = False
    for i in range(n):
        w = low[i]
        info = _WORD_INFO.get(w)
        if info is None:
            if unmet_clause and (w[0] in _CLAUSE_ENDS or w == "but"):
                unmet_clause = False
            # Handles, links and most words end here; hashtags are read as their word.
            if w[0] != "#":
                continue
            w = w[1:]
            info = _WORD_INFO.get(w)
            if info is None:
                if w.endswith(_HASHTAG_COMPLAINT_ENDINGS):
                    # #epicfail, #customerservicefail, #yousuck: compound complaint hashtags
                    cue_neg -= 2.5
                continue
        valence, emoji, hit, phrase_end, function, amplifier, service_name, thanks = info
        if amplifier == 1 or (amplifier == 2 and _DURATION_RE.search(text)):
            amplifiers += 1
        # VADER's "but" rule: what follows the contrast dominates.
        scale = 1.0 if but_at == n or i == but_at else (0.5 if i < but_at else 1.5)
        prev = low[i - 1] if i > 0 else ""
        prev2 = low[i - 2] if i > 1 else ""
        near_neg = prev in _NEGATORS or prev2 in _NEGATORS
        # "couldn't be more thankful", "can't be happier": the negator does not reverse.
        if near_neg and (prev in _COMPARATIVES or prev2 in _COMPARATIVES):
            near_neg = False

        if service_name and _followed_by(low, i, _NOT_A_FAILURE_AFTER):
            continue  # "lost and found", "cancellation policy" name services, not failures

        # --- cues: the longest phrase ending at this token ---
        phrase = False
        if phrase_end:
            longest = _CUE_TABLE.get(f"{prev2} {prev} {w}") if i >= 2 else None
            if longest is None and i >= 1:
                longest = _CUE_TABLE.get(f"{prev} {w}")
            if longest is not None:
                # A word that completes a multi-word cue is read as part of the phrase, whose
                # weight replaces its own valence ("couldn't be happier", "not acceptable");
                # the phrase is read whole, so its own "no"/"not" does not negate it.
                hit, valence, phrase = longest, (None if not emoji else valence), True

        # --- lexicon valence (VADER rules) ---
        if emoji and valence:
            # A run of one emoji is emphasis, not repeated evidence: count each emoji once.
            if w in seen_emoji:
                valence = 0.0
            seen_emoji.add(w)
        if valence and w not in _BOOSTERS:
            if w == "no" and i + 1 < n and low[i + 1] in _NO_NEGATES:
                # "no" negates the next word instead of counting itself ("no problem", "no
                # delays"); before other nouns it marks an absence ("no seats"), a complaint.
                valence = 0.0
            if len(raw[i]) > 1 and raw[i].isupper():
                if cap_diff is None:
                    # VADER's capital emphasis applies only when some, not all, tokens are in
                    # capitals.
                    n_upper = sum(1 for t in raw if t.isupper())
                    cap_diff = 0 < n_upper < n
                if cap_diff:
                    valence += C_INCR if valence > 0 else -C_INCR
            prev3 = low[i - 3] if i > 2 else ""
            for before, damp in ((prev, 1.0), (prev2, 0.95), (prev3, 0.9)):
                boost = _BOOSTERS.get(before)
                if boost is not None:
                    valence += (boost if valence > 0 else -boost) * damp
            if near_neg or (prev3 in _NEGATORS and prev2 not in _COMPARATIVES):
                valence *= N_SCALAR
            if unmet_clause and valence > 0:
                valence = 0.0
            if asks and thanks:
                valence *= 0.5  # "...how do I get it back? Thanks!" is politeness, not praise
            valence *= scale
            if valence > 0:
                lex_pos += valence
            else:
                lex_neg += valence

        if hit is not None:
            index, weight = hit
            if _CUE_NEGATABLE[index] and not phrase:
                if weight < 0 and (near_neg or prev in _HYPOTHETICAL or prev2 in _HYPOTHETICAL):
                    # "no delays", "never late", "any delays?": no failure reported.
                    weight = 0.0
                elif weight > 0 and near_neg:
                    weight *= N_SCALAR  # "not on time" reverses praise
            weight *= scale
            if weight < 0:
                cue_neg += weight
            else:
                cue_pos += weight
        elif function and i > 0:
            prev3 = low[i - 3] if i > 2 else ""
            if ((near_neg or prev in _FUNCTION_NEGATORS or prev2 in _FUNCTION_NEGATORS
                 or prev3 in _NEGATORS or prev3 in _FUNCTION_NEGATORS)
                    and prev not in _HYPOTHETICAL and prev2 not in _HYPOTHETICAL
                    and not _followed_by(low, i, _FUNCTION_EXCEPTIONS)):
                cue_neg += NEGATED_FUNCTION_WEIGHT * scale
                unmet_clause = True

    net = lex_pos + lex_neg + cue_neg + cue_pos
    if amplifiers and (lex_neg + cue_neg) < 0:
        net += AMPLIFIER_WEIGHT * min(amplifiers, 2)
    # VADER's punctuation emphasis: ! (up to 4) and repeated ? strengthen whichever way it leans.
    n_quest = text.count("?")
    emphasis = 0.292 * min(text.count("!"), 4) + (0.0 if n_quest < 2 else min(0.18 * n_quest,
                                                                                0.96))
    if net > 0:
        net += emphasis
    elif net < 0:
        net -= emphasis
    return (net, lex_pos, lex_neg, cue_neg, cue_pos, float(amplifiers), float(n), float(asks))


def _followed_by(low: list[str], i: int, pairs: frozenset[str]) -> bool:
    """Whether ``low[i]`` and the next token form one of ``pairs`` (e.g. "lost and")."""
    return i + 1 < len(low) and f"{low[i]} {low[i + 1]}" in pairs


def _score_many(texts: Sequence[str]) -> np.ndarray:
    return np.array([_score_text(t) for t in texts], dtype=np.float64).reshape(
        len(texts), len(SCORE_COLUMNS))


# Texts a forked worker scores by index range: with the "fork" start method the children see
# this list as it was at the fork, so the texts are never pickled to them.
_FORK_SHARED: list[str] = []


def _score_shared_range(bounds: tuple[int, int]) -> np.ndarray:
    return _score_many(_FORK_SHARED[bounds[0]:bounds[1]])


def _score_parallel(texts: list[str], workers: int) -> np.ndarray:
    global _FORK_SHARED
    chunk = math.ceil(len(texts) / (workers * 4))  # a few chunks per worker balance the load
    bounds = [(k, min(k + chunk, len(texts))) for k in range(0, len(texts), chunk)]
    _FORK_SHARED = texts
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as pool:
            return np.vstack(list(pool.map(_score_shared_range, bounds)))
    finally:
        _FORK_SHARED = []


def _as_text_array(texts: Sequence[str] | pd.Series | np.ndarray) -> np.ndarray:
    """Object array of str; missing values become empty text."""
    series = texts if isinstance(texts, pd.Series) else pd.Series(texts, dtype=object)
    return series.fillna("").astype(str).to_numpy(dtype=object)


def score_texts(texts: Sequence[str], n_jobs: int = 1,
                parallel_min: int = 50_000) -> pd.DataFrame:
    """Rule scores of each text (the features behind :class:`RulesClassifier`).

    Each distinct text is scored once (identical texts are frequent in customer care); when
    there are at least ``parallel_min`` distinct texts and ``n_jobs > 1``, they are split over
    ``n_jobs`` forked processes (where the platform can fork; else one process is used).

    Parameters
    ----------
    texts : sequence of str
        Tweet bodies; missing values count as empty text.
    n_jobs : int, default 1
        Processes for large inputs; ``-1`` uses every core.
    parallel_min : int, default 50000
        Fewer distinct texts than this are scored in this process (starting workers costs
        about 0.1 s).

    Returns
    -------
    DataFrame
        One row per text, columns :data:`SCORE_COLUMNS`: ``net`` (the score thresholds
        apply to), the positive and negative lexicon sums, the complaint and praise cue sums,
        the number of amplifiers, the number of tokens, and whether the text asks a question.
    """
    codes, scored = _score_distinct(texts, n_jobs, parallel_min)
    return pd.DataFrame(scored[codes], columns=list(SCORE_COLUMNS))


def _score_distinct(texts: Sequence[str], n_jobs: int,
                    parallel_min: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes of each text into its distinct texts, and the scores of the distinct texts."""
    values = _as_text_array(texts)
    codes, uniques = pd.factorize(values)
    uniques = list(uniques)
    workers = (os.cpu_count() or 1) if n_jobs == -1 else max(1, n_jobs)
    if workers > 1 and len(uniques) >= parallel_min and "fork" in get_all_start_methods():
        scored = _score_parallel(uniques, workers)
    else:
        scored = _score_many(uniques)
    return codes, scored


def rules_markdown() -> str:
    """Describe every cue (weight, phrases, reason) as a Markdown table, for the docs."""
    lines = [
        f"Rules classifier {RULES_VERSION} (tables {_tables_digest()}): score = VADER lexicon "
        "valence (customer-care senses re-valued) + cue weights; complaint at score ≤ "
        "−threshold, compliment at ≥ threshold.",
        "",
        "| cue | weight | phrases | why |",
        "|---|---:|---|---|",
    ]
    for cue in CUES:
        lines.append(f"| {cue.name} | {cue.weight:+g} | {', '.join(cue.phrases)} | {cue.why} |")
    lines += [
        f"| negated service function | {NEGATED_FUNCTION_WEIGHT:+g} | a negator within three "
        f"tokens before: {', '.join(sorted(FUNCTION_VERBS))} | A service that did not do what "
        "it should — the form of a breach of expectation in any industry. |",
        f"| amplifier | {AMPLIFIER_WEIGHT:+g} each, at most 2, only with other complaint "
        f"evidence | {', '.join(sorted(AMPLIFIER_WORDS))}; durations (\"3 hours\") | "
        "Persistence and elapsed time deepen a complaint but say nothing alone. |",
        "",
        "Re-valued VADER words: " + ", ".join(f"{w} {v:+g}" for w, v in
                                             sorted(DOMAIN_VALENCE.items())) + ".",
    ]
    return "\n".join(lines) + "\n"


def voice_from_net(net: np.ndarray, threshold: float) -> np.ndarray:
    """Map scores to voices: complaint at ``net <= -threshold``, compliment at ``>= threshold``."""
    net = np.asarray(net, dtype=np.float64)
    voice = np.full(net.shape, VOICES[2], dtype=object)
    voice[net <= -threshold] = VOICES[0]
    voice[net >= threshold] = VOICES[1]
    return voice


def sentiment_from_net(net: np.ndarray) -> np.ndarray:
    """VADER's normalisation ``net / sqrt(net² + 15)``, in (-1, 1)."""
    net = np.asarray(net, dtype=np.float64)
    return net / np.sqrt(net * net + 15.0)


class RulesClassifier:
    """VADER's lexicon plus customer-care cues (module docstring); needs no downloads.

    Parameters
    ----------
    threshold : float, default 1.0
        Score magnitude at which a text becomes a complaint (``net <= -threshold``) or a
        compliment (``net >= threshold``). Larger values label fewer texts as voiced.
    n_jobs : int, default 2
        Processes used when there are many distinct texts (see :func:`score_texts`).

    Examples
    --------
    >>> voice, sentiment = RulesClassifier().predict(["my order never arrived", "thanks, great!"])
    >>> list(voice)
    ['complaint', 'compliment']
    """

    name = "rules"

    def __init__(self, threshold: float = 1.0, n_jobs: int = 2) -> None:
        if not threshold > 0:
            raise ValueError("threshold must be positive")
        self.threshold = float(threshold)
        self.n_jobs = n_jobs
        self.version = (f"rules-{RULES_VERSION}+vader-{_package_version('vaderSentiment')}"
                        f"+tables-{_tables_digest()}+t{self.threshold:g}")

    def scores(self, texts: Sequence[str]) -> pd.DataFrame:
        """Rule scores per text (:func:`score_texts`)."""
        return score_texts(texts, n_jobs=self.n_jobs)

    def predict(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Voice and sentiment per text (the ``VoiceClassifier`` interface)."""
        codes, scored = _score_distinct(texts, self.n_jobs, parallel_min=50_000)
        net = scored[:, 0]  # per distinct text; spread to every text at the end
        return voice_from_net(net, self.threshold)[codes], sentiment_from_net(net)[codes]


@register_classifier("rules")
def _make_rules(threshold: float = 1.0, n_jobs: int = 2) -> RulesClassifier:
    return RulesClassifier(threshold=threshold, n_jobs=n_jobs)
