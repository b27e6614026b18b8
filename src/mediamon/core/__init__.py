"""The pure core: bytes, text and data in, decisions out. No HTTP, no SQL, no clock reads,
no environment: everything it needs comes in as arguments, so all of it runs in a test
without a server or a database.

    parse/      feed bytes -> ParsedFeed (feedparser, and a verified fast path)
    normalise   raw entries -> Items (stable ids, canonical URLs, clean text, UTC dates)
    urls        canonical URLs and dedup keys
    text        tokens, folding, sentences
    topics      the topic query language
    profile     the BM25 reference profile
    score       topics + profile -> Match (kept, score, why)
    stories     MinHash fingerprints and the story decision
    policy      when to poll next (adaptive intervals, backoff, Retry-After)

It imports nothing of mediamon but ``types``, ``errors`` and ``clock``.
"""
