"""Where raw landed pages (and later reports) are kept: a local directory by default, or S3 through
boto3 when CONCORD_LANDING_URL is `s3://bucket/prefix`, always with server-side encryption.

S3 credentials and endpoint come from boto3's own chain (AWS_* environment variables, instance roles,
AWS_ENDPOINT_URL for S3-compatible stores such as MinIO), never from code."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from canonical import paths


def base_url() -> str:
    return os.environ.get("CONCORD_LANDING_URL") or str(paths.landing_dir())


def put(key: str, data: bytes, *, base: str | None = None, content_type: str = "application/json") -> str:
    """Stores `data` under `key` below `base` (the landing base by default; reports pass theirs);
    returns the URI to read it back by."""
    base = base or base_url()
    if base.startswith("s3://"):
        return _s3_put(base, key, data, content_type)
    target = Path(base) / key
    paths.ensure(target.parent)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)  # a reader never sees half a file
    return str(target)


def get(uri: str) -> bytes:
    if uri.startswith("s3://"):
        bucket, key = _split(uri)
        return _s3().get_object(Bucket=bucket, Key=key)["Body"].read()
    return Path(uri).read_bytes()


def list_all() -> list[str]:
    """Every object under the landing base, as URIs `get` reads."""
    base = base_url()
    if base.startswith("s3://"):
        bucket, prefix = _split(base)
        pages = _s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [f"s3://{bucket}/{o['Key']}" for page in pages for o in page.get("Contents", [])]
    return sorted(str(p) for p in Path(base).rglob("*.json")) if Path(base).exists() else []


def rewrite(uri: str, data: bytes) -> None:
    """Replaces an object in place (erasure), encrypted like the original."""
    if uri.startswith("s3://"):
        bucket, key = _split(uri)
        _s3().put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json", **_encryption())
        return
    target = Path(uri)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)


def _s3_put(base: str, key: str, data: bytes, content_type: str) -> str:
    bucket, prefix = _split(base)
    full_key = f"{prefix.rstrip('/')}/{key}" if prefix else key
    _s3().put_object(Bucket=bucket, Key=full_key, Body=data, ContentType=content_type, **_encryption())
    return f"s3://{bucket}/{full_key}"


def _encryption() -> dict:
    # On by default: landed pages hold customer PII. KMS when a key is named, AES-256 otherwise.
    key_id = os.environ.get("CONCORD_S3_KMS_KEY_ID")
    if key_id:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key_id}
    return {"ServerSideEncryption": "AES256"}


def _split(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    return parts.netloc, parts.path.lstrip("/")


@lru_cache(maxsize=1)
def _s3():
    import boto3

    return boto3.client("s3")
