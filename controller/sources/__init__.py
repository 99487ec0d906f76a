"""Sources: where the desired state comes from (a directory here; Git and S3 later)."""
