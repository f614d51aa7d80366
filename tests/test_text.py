"""Text keys shared by the doctor, site dedupe and the query leak check."""

from __future__ import annotations

from embedtune.text import NearDuplicates, containment, jaccard, normalize, shingles, words

BASE = (
    "to export a notebook right click it in the sidebar and choose export as markdown from the menu then pick a "
    "folder on your computer and wait until the download finishes before closing the app"
)


def test_normalize_words_and_shingles():
    assert normalize("  Reset   the\tPassword ") == "reset the password"
    assert words("IL-1beta: Sync's OK") == ["il", "1beta", "sync", "s", "ok"]
    assert shingles(["a", "b", "c", "d", "e"]) == {"a b c", "b c d", "c d e"}
    assert shingles(["a", "b"]) == {"a b"} and shingles([]) == frozenset()
    assert containment(shingles(words("a b c d e")), shingles(words("b c d"))) == 1.0
    assert containment(frozenset({"x"}), frozenset()) == 0.0


def test_near_duplicates_are_confirmed_by_exact_jaccard():
    index = NearDuplicates(threshold=0.8)
    base = shingles(words(BASE))
    index.insert("base", base)
    index.insert("empty", frozenset())  # nothing to compare: never indexed, never matched
    near = shingles(words(BASE.replace("menu", "top menu")))
    assert jaccard(base, near) >= 0.8
    assert [(key, round(sim, 3)) for key, sim in index.matches(near)] == [("base", round(jaccard(base, near), 3))]
    # LSH proposes this one (the sketches are deterministic) but its exact similarity is below the threshold
    farther = shingles(words(BASE.replace("sidebar", "side bar").replace("folder", "place")))
    assert 0.6 <= jaccard(base, farther) < 0.8
    assert index.matches(farther) == []
    assert index.matches(shingles(words("an unrelated sentence about invoices and billing dates"))) == []
    assert index.matches(frozenset()) == []
