"""Talking to served models: the OpenAI-compatible client, the resumable append loop, and the endpoint judge.

The client and the loop are shared by the leaderboard's runs (leaderboard.runner) and by the endpoint
judge (judge.endpoint.judge), which lives here because the judge package never imports the leaderboard.
"""
