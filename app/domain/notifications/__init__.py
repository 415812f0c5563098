"""Mentions, notification settings, the Mentions view and Web Push (issue 30)."""
