"""embedtune: fine-tune a compact embedding retriever on your own data, honestly evaluated.

The library is the product; the ``embedtune`` command is a thin shell over it. One import::

    import embedtune

    run = embedtune.train(data="src/embedtune/examples/helpcenter", output="runs/help", epochs=1)
    print(run.eval.verdict)                       # the model vs base model vs BM25 vs their hybrid, 95% CIs
    index = embedtune.Index.build(run, "src/embedtune/examples/helpcenter", "runs/help-index")
    print(index.search("can I get my money back?", k=3)[0].title)

``train``, ``evaluate``, ``Index``, ``build_site``, ``build_recsys`` and ``recommend`` are defined in
:mod:`embedtune.api` and loaded on first use, so ``import embedtune`` does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embedtune._version import __version__

__all__ = ["Index", "__version__", "build_recsys", "build_site", "evaluate", "recommend", "train"]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily below
    from embedtune.api import Index, build_recsys, build_site, evaluate, recommend, train


def __getattr__(name: str) -> Any:
    if name in __all__:
        from embedtune import api

        return getattr(api, name)
    raise AttributeError(f"module 'embedtune' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
