"""File processing: fetch an upload, check what it really is, scan it, and make image derivatives."""
