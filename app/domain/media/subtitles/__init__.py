"""Subtitle tracks: WebVTT/SRT files judged and cleaned, stored, served and deleted."""
