"""What media and attachments share: signed links and content sniffing."""
