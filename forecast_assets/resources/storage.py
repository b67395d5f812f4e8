"""The warehouse: the original design's buckets, as MinIO buckets or as folders of a local warehouse.

One resource serves both; only configuration differs (see settings.py). Spark reads and writes through
`uri()` (`file://...` or `s3a://...`); small objects (manifests, JSON reports, landing listings) go
through the boto3 client of dagster-aws's S3Resource (a nested resource: the UI shows its settings), or
through the file system.
"""

import fcntl
import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import PrivateAttr


class StorageError(RuntimeError):
    """A storage call failed; the message names the endpoint, bucket and key."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    version: str  # changes whenever the content changes (S3 ETag, or size+mtime on a folder)
    modified: datetime


class Warehouse(dg.ConfigurableResource):
    """Where every artifact lives. `root_uri` is `file:///abs/folder` (embedded default) or `s3a://` (MinIO),
    reached with the boto3 client of `s3`, dagster-aws's S3Resource."""

    root_uri: str
    s3: S3Resource | None = None  # with root_uri s3a://: the endpoint, credentials and retries
    _client: Any = PrivateAttr(default=None)
    _known_buckets: set = PrivateAttr(default_factory=set)

    @property
    def is_s3(self) -> bool:
        return self.root_uri.startswith("s3a://")

    @property
    def location(self) -> str:
        if not self.is_s3:
            return self.root_uri
        return (self.s3.endpoint_url if self.s3 else None) or "S3"

    def uri(self, bucket: str, key: str = "") -> str:
        """The URI Spark reads and writes for `bucket/key`."""
        key = safe_key(key)
        if self.is_s3:
            return f"s3a://{bucket}/{key}"
        return f"{self.root_uri.rstrip('/')}/{bucket}/{key}"

    def key_of(self, bucket: str, uri: str) -> str:
        """The inverse of uri(): the key of a URI inside `bucket`."""
        prefix = self.uri(bucket, "")
        if not uri.startswith(prefix):
            raise StorageError(f"{uri} is not inside bucket {bucket} at {self.location}")
        return uri[len(prefix) :]

    # -- small objects ---------------------------------------------------------------------------
    def _path(self, bucket: str, key: str) -> Path:
        return Path(self.root_uri.removeprefix("file://")) / bucket / safe_key(key)

    def _s3(self):
        if self._client is None:
            if self.s3 is None:
                raise StorageError(f"{self.root_uri}: S3 storage needs its s3 resource (endpoint and credentials)")
            self._client = self.s3.get_client()
        return self._client

    def _fail(self, action: str, bucket: str, key: str, error: Exception) -> StorageError:
        code = getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)
        hint = {
            "InvalidAccessKeyId": "the access key is not known to the server (check AWS_ACCESS_KEY_ID)",
            "SignatureDoesNotMatch": "the secret key is wrong (check AWS_SECRET_ACCESS_KEY)",
            "AccessDenied": "the credentials may not use this bucket",
            "EndpointConnectionError": "nothing answers at the endpoint (is MinIO running?)",
        }.get(code, str(error))
        return StorageError(f"cannot {action} s3://{bucket}/{key} at {self.location}: {code}: {hint}")

    def ensure_bucket(self, bucket: str) -> None:
        """Create the bucket (or folder) when missing; harmless when it exists."""
        if bucket in self._known_buckets:
            return
        if not self.is_s3:
            self._path(bucket, "").mkdir(parents=True, exist_ok=True)
        else:
            from botocore.exceptions import BotoCoreError, ClientError

            client = self._s3()
            try:  # not head_bucket: its 403 has no body to tell a wrong key from a wrong secret
                client.list_objects_v2(Bucket=bucket, MaxKeys=1)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                    raise self._fail("open bucket", bucket, "", error) from None
                try:
                    client.create_bucket(Bucket=bucket)
                except ClientError as create_error:
                    code = create_error.response.get("Error", {}).get("Code")
                    if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        raise self._fail("create bucket", bucket, "", create_error) from None
            except BotoCoreError as error:
                raise self._fail("open bucket", bucket, "", error) from None
        self._known_buckets.add(bucket)

    def read_bytes(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        if not self.is_s3:
            path = self._path(bucket, key)
            return path.read_bytes() if path.exists() else None
        return self.read_for_update(bucket, key)[0]

    def write_bytes(self, bucket: str, key: str, data: bytes) -> None:
        """Write an object whole: readers see the old bytes or the new ones, never a part."""
        self.ensure_bucket(bucket)
        if not self.is_s3:
            path = self._path(bucket, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as tmp:
                tmp.write(data)
            os.replace(tmp.name, path)
            return
        self._put(bucket, key, data)

    # -- compare-and-swap ---------------------------------------------------------------------------
    def read_for_update(self, bucket: str, key: str) -> tuple[bytes | None, str | None]:
        """The object's bytes and a token naming that content (None, None when it does not exist), for
        write_if_unchanged. The token is the S3 ETag, or the content's SHA-256 in a local folder."""
        if not self.is_s3:
            path = self._path(bucket, key)
            data = path.read_bytes() if path.exists() else None
            return data, (hashlib.sha256(data).hexdigest() if data is not None else None)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            found = self._s3().get_object(Bucket=bucket, Key=safe_key(key))
            return found["Body"].read(), found["ETag"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None, None
            raise self._fail("read", bucket, key, error) from None
        except BotoCoreError as error:
            raise self._fail("read", bucket, key, error) from None

    def write_if_unchanged(self, bucket: str, key: str, data: bytes, token: str | None) -> bool:
        """Write the object whole only if it still holds what `token` (from read_for_update) named, or still
        does not exist when `token` is None; False, writing nothing, when another writer came first. On S3 a
        conditional PUT (If-Match on the ETag, If-None-Match: * to create), which S3 and MinIO honour; in a
        local folder the comparison and the replace happen under an exclusive lock on the object's lock file."""
        self.ensure_bucket(bucket)
        if not self.is_s3:
            path = self._path(bucket, key)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path.parent / f".{path.name}.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed, also by a process that dies
                _, current = self.read_for_update(bucket, key)
                if current != token:
                    return False
                self.write_bytes(bucket, key, data)
                return True
        return self._put(bucket, key, data, **({"IfMatch": token} if token is not None else {"IfNoneMatch": "*"}))

    def _put(self, bucket: str, key: str, data: bytes, **condition) -> bool:
        """PUT the object whole; False when its condition (If-Match / If-None-Match) does not hold."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._s3().put_object(Bucket=bucket, Key=safe_key(key), Body=data, **condition)
            return True
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if condition and code in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise self._fail("write", bucket, key, error) from None
        except BotoCoreError as error:
            raise self._fail("write", bucket, key, error) from None

    def list_objects(self, bucket: str, prefix: str = "") -> list[StoredObject]:
        """Every object under `prefix`, sorted by key (hidden `.`/`_` files of the local store left out)."""
        if not self.is_s3:
            base = self._path(bucket, "")
            if not base.exists():
                return []
            found = []
            for path in sorted(base.rglob("*")):
                key = path.relative_to(base).as_posix()
                if not path.is_file() or not key.startswith(prefix) or path.name.startswith((".", "_")):
                    continue
                if path.is_symlink() or not path.resolve().is_relative_to(base.resolve()):
                    continue  # a link could address a file outside the warehouse
                stat = path.stat()
                modified = datetime.fromtimestamp(stat.st_mtime, UTC)
                found.append(StoredObject(key, stat.st_size, f"{stat.st_size}-{stat.st_mtime_ns}", modified))
            return found
        from botocore.exceptions import BotoCoreError, ClientError

        self.ensure_bucket(bucket)
        found = []
        try:
            for page in self._s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    found.append(StoredObject(item["Key"], item["Size"], item["ETag"].strip('"'), item["LastModified"]))
        except (BotoCoreError, ClientError) as error:
            raise self._fail("list", bucket, prefix, error) from None
        return sorted(found, key=lambda o: o.key)

    def delete(self, bucket: str, key: str) -> None:
        """Remove an object; harmless when it does not exist."""
        if not self.is_s3:
            self._path(bucket, key).unlink(missing_ok=True)
            return
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._s3().delete_object(Bucket=bucket, Key=safe_key(key))
        except (BotoCoreError, ClientError) as error:
            raise self._fail("delete", bucket, key, error) from None

    def move(self, bucket: str, key: str, new_key: str) -> None:
        """Move an object inside the bucket (copy, then delete the original)."""
        if not self.is_s3:
            target = self._path(bucket, new_key)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self._path(bucket, key), target)
            return
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._s3().copy_object(Bucket=bucket, Key=safe_key(new_key), CopySource={"Bucket": bucket, "Key": key})
            self._s3().delete_object(Bucket=bucket, Key=safe_key(key))
        except (BotoCoreError, ClientError) as error:
            raise self._fail("move", bucket, key, error) from None


def safe_key(key: str) -> str:
    """Refuse keys that could address something outside the bucket."""
    parts = key.split("/")
    if key.startswith("/") or any(part in ("..", ".") for part in parts) or "\\" in key or "\x00" in key:
        raise StorageError(f"refusing unsafe object key {key!r}")
    return key
