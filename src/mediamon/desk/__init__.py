"""The analyst's desk: what is done with the collected items, on top of the store.

    relevance     score, eval, label and rescore
    alerts        webhooks, e-mail and chat channels for new items and stories
    report        the self-contained HTML report
    stats         counts over time, by topic, feed and language
    export        JSON Lines, CSV and Atom out, JSON Lines in
    housekeeping  retention and vacuum
    jobs          the database a daemon job opens (SQLite's file or PostgreSQL)
    serve         Datasette over the database
"""
