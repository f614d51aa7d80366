"""``llm``: questions a visitor would type, from an OpenAI-compatible chat endpoint.

Off by default and never contacted otherwise (``--llm-url``/``--llm-model`` turn it on).
"""

from __future__ import annotations

import logging
import os
import random
import re
from collections.abc import Sequence

from embedtune.data.records import Document
from embedtune.errors import EmbedtuneError

log = logging.getLogger(__name__)

class LLMQueries:
    """Questions from an OpenAI-compatible chat endpoint (``POST {url}/chat/completions``).

    The API key, when the endpoint needs one, is read from ``EMBEDTUNE_LLM_API_KEY`` or
    ``OPENAI_API_KEY``. An endpoint that cannot be reached or answers with an HTTP error stops the
    build with a clear message; a single unusable answer only loses that passage's questions.
    """

    name = "llm"
    PROMPT = (
        "Here is a passage from a website:\n\n{passage}\n\n"
        "Write {n} different questions a visitor might type into this site's search box that this passage "
        "answers. Use the visitor's own words, do not copy sentences from the passage. One question per line, "
        "no numbering."
    )

    def __init__(self, url: str, model: str, n: int = 3, timeout: float = 60.0, max_chars: int = 3000) -> None:
        url = url.rstrip("/")
        self.url = url if url.endswith("/chat/completions") else f"{url}/chat/completions"
        self.model = model
        self.n = n
        self.timeout = timeout
        self.max_chars = max_chars
        self.failures = 0
        self._client = None

    def prepare(self, passages: Sequence[Document]) -> None:
        import httpx

        key = os.environ.get("EMBEDTUNE_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(timeout=self.timeout, headers=headers)

    def generate(self, passage: Document, rng: random.Random) -> list[str]:
        import httpx

        if self._client is None:
            self.prepare([])
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": self.PROMPT.format(passage=passage.full_text[: self.max_chars], n=self.n)}],
            "temperature": 0.7,
            "seed": rng.randrange(2**31),
        }
        try:
            response = self._client.post(self.url, json=body)
        except httpx.HTTPError as exc:
            raise EmbedtuneError(f"LLM endpoint {self.url} unreachable: {exc} (check --llm-url)") from None
        if response.status_code >= 400:
            raise EmbedtuneError(
                f"LLM endpoint {self.url} answered HTTP {response.status_code}: {response.text[:200]} "
                "(check --llm-url, --llm-model and the API key in EMBEDTUNE_LLM_API_KEY)"
            )
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            self.failures += 1
            log.warning("LLM endpoint gave an unusable answer for passage %s", passage.id)
            return []
        lines = [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip().strip('"') for line in str(content).splitlines()]
        return [line for line in lines if len(line.split()) >= 2][: self.n]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
