"""The real work behind each queue, one module per kind of job."""
