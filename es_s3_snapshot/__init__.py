"""es-s3-snapshot: back up Elasticsearch/OpenSearch indices to an S3 repository and restore them."""

__version__ = "1.0.0"
