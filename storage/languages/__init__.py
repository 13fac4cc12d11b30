"""Queries on what the languages need stored: installed instrument files."""
