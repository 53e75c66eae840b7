"""drtool's benchmark: datasets, the runner, the S3 request count."""
