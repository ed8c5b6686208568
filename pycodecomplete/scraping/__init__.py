"""Collecting training code: GitHub search into a table, then safe shallow clones.

- `github.py`: the GraphQL search client (retries, rate limits, no token leaks)
- `scrape.py`: `created:` slicing under the 1,000-result cap, resumable progress
- `store.py`: the SQLAlchemy Core tables and their upserts (SQLite or MySQL)
- `clone.py`: depth-1 clones that keep only regular `.py` files

This package never imports the ML side.
"""
