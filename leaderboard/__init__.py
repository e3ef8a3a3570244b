"""The leaderboard: submissions, the DuckDB store, statistics and the MkDocs site."""
