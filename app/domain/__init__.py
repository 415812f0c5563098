"""The domain: accounts, groups, messages, media, attachments; services over ports, no server code."""
