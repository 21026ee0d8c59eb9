"""boto3's managed transfers as a sync anchor (issue 18 point 7): copy every object of a bucket with
``client.copy`` (inside one store, server-side) or a streamed GET into ``upload_fileobj`` (between
stores), as many objects at once as -m sync, the same threshold and part size.

    python -m devstack.managed_copy SPEC.json

SPEC: {"src": {endpoint, access_key, secret_key, bucket}, "dst": {...same, "base"},
"workers": 16, "threshold": bytes, "chunk": bytes}. Run in a fresh process, as the tool is, so
that the figure includes importing boto3 and building its clients.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor

SERVER_SIDE_FACTOR = 4  # as -m sync: four times as many server-side copies at once


def main(spec_path: str) -> int:
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    spec = json.loads(open(spec_path).read())
    src, dst = spec["src"], spec["dst"]
    inside = src["endpoint"] == dst["endpoint"] and src["access_key"] == dst["access_key"]
    workers = spec["workers"] * (SERVER_SIDE_FACTOR if inside else 1)
    options = Config(
        max_pool_connections=workers * 2,
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )

    def client(side: dict):
        return boto3.session.Session().client(
            "s3", endpoint_url=side["endpoint"], region_name="us-east-1", aws_access_key_id=side["access_key"],
            aws_secret_access_key=side["secret_key"], config=options,
        )  # fmt: skip

    source, destination = client(src), client(dst)
    transfer = TransferConfig(
        multipart_threshold=spec["threshold"], multipart_chunksize=spec["chunk"], max_concurrency=spec["workers"]
    )
    objects = [
        (item["Key"], item["Size"])
        for page in source.get_paginator("list_objects_v2").paginate(Bucket=src["bucket"])
        for item in page.get("Contents", [])
        if not item["Key"].endswith("/")
    ]

    def copy(item: tuple[str, int]) -> None:
        key, size = item
        target = f"{dst['base']}/{key}"
        if inside:
            destination.copy({"Bucket": src["bucket"], "Key": key}, dst["bucket"], target, SourceClient=source,
                             Config=transfer)  # fmt: skip
        else:
            body = source.get_object(Bucket=src["bucket"], Key=key)["Body"]
            destination.upload_fileobj(body, dst["bucket"], target, Config=transfer)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(copy, objects))
    print(f"{len(objects)} objects copied")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
