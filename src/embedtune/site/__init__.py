"""Site search: pages → clean passages → training queries → a leakage-free BEIR split.

One module per stage, each readable on its own:

``sources``  read pages from a folder, a ``sitemap.xml`` or a BEIR ``corpus.jsonl``
``crawl``    same-origin crawl of a running site (robots.txt, page/depth/rate limits)
``extract``  main-text extraction (trafilatura) to markdown-ish text, template syntax removed
``chunk``    section-based passages of at most N tokens of the model's tokenizer
``dedupe``   exact and near-duplicate passages merged, all their URLs kept
``queries``  switchable query generators (templates, headings, keywords, sentences, LLM)
``split``    train/dev/test by passage, real questions as the test split
``build``    the whole path: SOURCE → DATA_DIR in BEIR layout
"""

from embedtune.site.build import SiteBuildOptions, SiteBuildReport, build_site_dataset

__all__ = ["SiteBuildOptions", "SiteBuildReport", "build_site_dataset"]
