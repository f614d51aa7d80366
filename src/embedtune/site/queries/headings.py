"""``headings``: questions from headings and from definitional or how-to sentences.

"Exporting notes" → "How does exporting notes work?"; "X is a …" → "What is X?";
"To export notes, …" → "How do I export notes?"; "You can …" → "Can I …?".
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from embedtune.data.records import Document
from embedtune.site.chunk import split_sentences
from embedtune.site.queries.base import STOPWORDS, lower_first, topic_of

_PRONOUNS = {"your": "my", "you": "I", "yours": "mine", "yourself": "myself"}
_DEFINITION = re.compile(
    r"^(?:(?:an?|the)\s+)?(?P<subject>[\w][\w'-]*(?:\s+[\w][\w'-]*){0,4}?)\s+"
    r"(?P<verb>is|are|means|refers to)\s+(?:an?|the|when|how|what|where|your|our)\b",
    re.IGNORECASE,
)
_TO_DO = re.compile(r"^to\s+(?P<task>[^,]{3,80}?),\s", re.IGNORECASE)
_YOU_CAN = re.compile(r"^you\s+can(?:not|'t)?\s+(?P<task>[^.;:]{3,80})", re.IGNORECASE)
_BECAUSE = re.compile(r"^(?P<effect>[^,;:]{8,90}?)\s+(?:because|since|due to)\s", re.IGNORECASE)
_NOT_SUBJECTS = frozenset(
    {"this", "that", "these", "those", "it", "there", "here", "which", "what", "who", "he", "she", "they", "we",
     "you", "i", "its", "our", "their", "each", "all", "result", "results", "aim", "purpose", "goal"}
)
_NUMBERING = re.compile(r"^(?:(?:step|part|chapter)\s+)?(?:\d+|[ivx]+|[a-z])[.):]\s+", re.IGNORECASE)
_IMPERATIVES = frozenset(
    "add back bring change check choose connect create delete disable download edit enable export find get import "
    "install invite keep link manage move open organize pick print publish recover remove rename reset restore "
    "search send set share sign start stop switch sync tag turn undo update upgrade upload use write".split()
)
_QUESTION_WORDS = ("how", "what", "why", "when", "where", "which", "who", "can", "is", "are", "do", "does", "should")


def _second_person_to_first(text: str) -> str:
    return " ".join(_PRONOUNS.get(w.lower(), w) for w in text.split())


class HeadingQuestions:
    """Questions from the passage's heading and from definitional or how-to sentences."""

    name = "headings"

    def prepare(self, passages: Sequence[Document]) -> None:
        return None

    def from_heading(self, heading: str, rng: random.Random) -> list[str]:
        heading = _NUMBERING.sub("", heading.strip()).rstrip(":.").strip()
        if not heading or len(heading.split()) > 14 or heading.lower() in STOPWORDS:
            return []
        first = heading.split()[0].lower()
        lowered = lower_first(heading)
        if heading.endswith("?"):
            return [heading]
        if first in _QUESTION_WORDS:
            if lowered.lower().startswith("how to "):
                return [f"How do I {_second_person_to_first(heading[7:])}?"]
            return [heading + "?"]
        if first in _IMPERATIVES:  # "Bring your old notes" → "How do I bring my old notes?"
            return [f"How do I {_second_person_to_first(heading[0].lower() + heading[1:])}?"]
        if first.endswith("ing") and len(first) > 4:
            forms = (f"How does {lowered} work?", f"Help with {lowered}", f"What do I need to know about {lowered}?")
        else:
            last = heading.split()[-1].lower()
            verb = "are" if last.endswith("s") and not last.endswith(("ss", "us", "is")) else "is"
            forms = (f"What {verb} {lowered}?", f"Tell me about {lowered}", f"What should I know about {lowered}?")
        return [rng.choice(forms)]

    def from_sentences(self, text: str) -> list[str]:
        questions = []
        for sentence in split_sentences(" ".join(text.split())):
            sentence = sentence.lstrip("-*# ").strip()
            if match := _DEFINITION.match(sentence):
                subject = match.group("subject").strip()
                if subject.split()[0].lower() not in _NOT_SUBJECTS and not subject.isdigit():
                    verb = "are" if match.group("verb").lower() == "are" else "is"
                    questions.append(f"What {verb} {lower_first(subject)}?")
            if match := _TO_DO.match(sentence):
                questions.append(f"How do I {_second_person_to_first(match.group('task').strip())}?")
            if match := _YOU_CAN.match(sentence):
                task = " ".join(match.group("task").split()[:10])
                questions.append(f"Can I {_second_person_to_first(task)}?")
            if match := _BECAUSE.match(sentence):
                effect = match.group("effect").strip()
                if effect.split()[0].lower() not in _NOT_SUBJECTS:
                    questions.append(f"Why {lower_first(_second_person_to_first(effect))}?")
        return questions

    def generate(self, passage: Document, rng: random.Random) -> list[str]:
        questions = self.from_heading(topic_of(passage), rng)
        found = self.from_sentences(passage.text)
        rng.shuffle(found)
        return questions + found
