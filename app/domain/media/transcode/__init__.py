"""Making videos playable: the job queue, the runner, ffmpeg, and the renditions it writes."""
