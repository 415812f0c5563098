"""Media: the video library. Bytes live behind the blob store port (`app.blobstore`)."""
