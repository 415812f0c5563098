"""Huddle: self-hosted group chat with synchronized video watching."""

__version__ = "0.1.0"
