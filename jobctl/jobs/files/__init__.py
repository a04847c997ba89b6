"""File processing: fetch an upload, check what it really is, scan it, and make image derivatives.

`prepare_file_payload` runs where the job is enqueued and rejects bad input with UsageError;
`job.process_file_job` is the RQ job function (imported only by workers, with Pillow and the
scanner) and reports failures as Permanent/TransientJobFailure.
"""

from jobctl.jobs.files.payload import PROCESSING_TYPES, prepare_file_payload

__all__ = ["PROCESSING_TYPES", "prepare_file_payload"]
