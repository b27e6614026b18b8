"""Storage: every SQL statement of mediamon lives in this package.

    sqlite    the Store: schema and migrations, feeds, items, fetch state, labels
    stories   the story tables (fingerprints, LSH bands, headlines, members)
    query     reading for the analyst: items, search, health, counts
    postgres  the same database on PostgreSQL, shared by many daemons (claims on due
              feeds); `run` and `migrate` use it so far

The rest of mediamon calls these; it never writes SQL of its own.
"""
