"""The video catalog: videos, their names, their subtitle tracks as listed, and stream grants."""
