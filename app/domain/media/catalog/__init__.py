"""The video catalog: videos, their names and their subtitle tracks as listed."""
