"""Message attachments: images, PDFs, plain text and ZIP archives uploaded through the same resumable
upload sessions and blob store as videos, sent in messages, served with Range and a sandbox CSP."""
