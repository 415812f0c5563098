"""Getting videos in: the one-request form upload and resumable upload sessions."""
