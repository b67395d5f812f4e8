"""The warehouse: the original design's buckets, as MinIO buckets or as folders of a local warehouse.

One resource serves both, through one fsspec file system: s3fs on the endpoint and credentials of dagster-aws's
S3Resource (a nested resource: the UI shows its settings), or fsspec's local one. Spark reads and writes
through `uri()` (`file://...` or `s3a://...`); small objects (manifests, JSON reports, landing listings) go
through the file system. Only two things differ: a local write goes to a temporary file renamed into place (a
PUT is whole already), and the compare-and-swap (a conditional PUT, or a lock on the local folder).
"""

import contextlib
import fcntl
import hashlib
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from botocore.exceptions import BotoCoreError
from dagster_aws.s3 import S3Resource
from fsspec.implementations.local import LocalFileSystem
from pydantic import PrivateAttr

from forecast_assets.settings import S3_REGION, Settings


class StorageError(RuntimeError):
    """A storage call failed; the message names the endpoint, bucket and key."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    version: str  # changes whenever the content changes (S3 ETag, or size+mtime on a folder)
    modified: datetime


HINTS = {
    "InvalidAccessKeyId": "the access key is not known to the server (check AWS_ACCESS_KEY_ID)",
    "SignatureDoesNotMatch": "the secret key is wrong (check AWS_SECRET_ACCESS_KEY)",
    "AccessDenied": "the credentials may not use this bucket",
    "EndpointConnectionError": "nothing answers at the endpoint (is MinIO running?)",
}
LOST_RACE = ("PreconditionFailed", "ConditionalRequestConflict")  # a conditional PUT whose condition failed


class Warehouse(dg.ConfigurableResource):
    """Where every artifact lives. `root_uri` is `file:///abs/folder` (embedded default) or `s3a://` (MinIO),
    reached with the endpoint and credentials of `s3`, dagster-aws's S3Resource."""

    root_uri: str
    s3: S3Resource | None = None  # with root_uri s3a://: the endpoint, credentials and retries
    _fs: Any = PrivateAttr(default=None)
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

    # -- the file system -------------------------------------------------------------------------
    @property
    def fs(self):
        """The fsspec file system every call below goes through (made on first use, kept)."""
        if self._fs is None and not self.is_s3:
            self._fs = LocalFileSystem(auto_mkdir=True)
        elif self._fs is None:
            if self.s3 is None:
                raise StorageError(f"{self.root_uri}: S3 storage needs its s3 resource (endpoint and credentials)")
            from s3fs import S3FileSystem

            s3 = self.s3
            self._fs = S3FileSystem(
                key=s3.aws_access_key_id,
                secret=s3.aws_secret_access_key,
                token=s3.aws_session_token,
                anon=bool(s3.use_unsigned_session),
                profile=s3.profile_name,
                endpoint_url=s3.endpoint_url,
                use_ssl=s3.use_ssl,
                client_kwargs={"region_name": s3.region_name, "verify": s3.verify},
                config_kwargs={"retries": {"max_attempts": s3.max_attempts}},  # as S3Resource's own client
                skip_instance_cache=True,
                use_listings_cache=False,
                cache_regions=False,
            )
            self._fs.retries = s3.max_attempts  # s3fs's own retries (timeouts, broken reads), 5 by default
        return self._fs

    def _path(self, bucket: str, key: str = "") -> str:
        folder = bucket if self.is_s3 else f"{self.root_uri.removeprefix('file://').rstrip('/')}/{bucket}"
        return f"{folder}/{safe_key(key)}" if key else folder

    @contextlib.contextmanager
    def _failing(self, action: str, bucket: str, key: str):
        """Turn a storage failure into a StorageError naming the endpoint, bucket and key (a missing object's
        FileNotFoundError passes: callers decide what missing means)."""
        try:
            yield
        except FileNotFoundError:
            raise
        except (OSError, BotoCoreError) as error:
            code = _code(error)
            where = f"s3://{bucket}/{key} at {self.location}" if self.is_s3 else f"{self.location}/{bucket}/{key}"
            raise StorageError(f"cannot {action} {where}: {code}: {HINTS.get(code, str(error))}") from None

    # -- small objects ---------------------------------------------------------------------------
    def ensure_bucket(self, bucket: str) -> None:
        """Create the bucket (or folder) when missing; harmless when it exists."""
        if bucket not in self._known_buckets:
            with self._failing("open bucket", bucket, ""):
                self.fs.makedirs(self._path(bucket), exist_ok=True)
            self._known_buckets.add(bucket)

    def read_bytes(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""
        if self.is_s3:  # one GET (s3fs's cat_file asks HEAD first, whose 403 cannot say which key is wrong)
            return self.read_for_update(bucket, key)[0]
        with contextlib.suppress(FileNotFoundError), self._failing("read", bucket, key):
            return self.fs.cat_file(self._path(bucket, key))
        return None

    def write_bytes(self, bucket: str, key: str, data: bytes) -> None:
        """Write an object whole: readers see the old bytes or the new ones, never a part."""
        self.ensure_bucket(bucket)
        path = self._path(bucket, key)
        with self._failing("write", bucket, key):
            if self.is_s3:
                self.fs.pipe_file(path, data)
            else:
                temporary = f"{path.rpartition('/')[0]}/.tmp-{uuid.uuid4().hex}"
                self.fs.pipe_file(temporary, data)
                self.fs.mv(temporary, path)  # a rename: atomic

    def list_objects(self, bucket: str, prefix: str = "") -> list[StoredObject]:
        """Every object under `prefix` (a prefix, not a folder: `a` lists `a/1` and `ab`), sorted by key; files
        whose name starts with `.` or `_` (Spark's markers, temporary files, manifests) and links left out."""
        base = self._path(bucket) + "/"
        # A local file that is a link, or inside one, could address a file outside the warehouse: left out.
        root = None if self.is_s3 else os.path.realpath(self.root_uri.removeprefix("file://")) + "/"
        with contextlib.suppress(FileNotFoundError), self._failing("list", bucket, prefix):
            found = self.fs.find(base + safe_key(prefix).rpartition("/")[0], detail=True)
            objects = []
            for path, info in sorted(found.items()):
                key = path.removeprefix(base)
                if not key.startswith(prefix) or key.rpartition("/")[2].startswith((".", "_")):
                    continue
                if root and (os.path.islink(path) or not os.path.realpath(path).startswith(root)):
                    continue
                modified = info.get("LastModified") or datetime.fromtimestamp(info["mtime"], UTC)
                version = info.get("ETag", "").strip('"') or f"{info['size']}-{os.stat(path).st_mtime_ns}"
                objects.append(StoredObject(key, info["size"], version, modified))
            return objects
        return []

    def delete(self, bucket: str, key: str) -> None:
        """Remove an object; harmless when it does not exist."""
        with contextlib.suppress(FileNotFoundError), self._failing("delete", bucket, key):
            self.fs.rm_file(self._path(bucket, key))

    def move(self, bucket: str, key: str, new_key: str) -> None:
        """Move an object inside the bucket (a rename in a folder; on S3 a copy, then the original deleted)."""
        with self._failing("move", bucket, key):
            self.fs.mv(self._path(bucket, key), self._path(bucket, new_key))

    # -- compare-and-swap ---------------------------------------------------------------------------
    def read_for_update(self, bucket: str, key: str) -> tuple[bytes | None, str | None]:
        """The object's bytes and a token naming that content (None, None when it does not exist), for
        write_if_unchanged. The token is the S3 ETag of the same GET, or the content's SHA-256 in a folder."""
        path = self._path(bucket, key)
        with contextlib.suppress(FileNotFoundError), self._failing("read", bucket, key):
            if not self.is_s3:
                data = self.fs.cat_file(path)
                return data, hashlib.sha256(data).hexdigest()
            from fsspec.asyn import sync

            async def get() -> tuple[bytes, str]:
                found = await self.fs._call_s3("get_object", Bucket=bucket, Key=safe_key(key))
                return await found["Body"].read(), found["ETag"]

            return sync(self.fs.loop, get)
        return None, None

    def write_if_unchanged(self, bucket: str, key: str, data: bytes, token: str | None) -> bool:
        """Write the object whole only if it still holds what `token` (from read_for_update) named, or still
        does not exist when `token` is None; False, writing nothing, when another writer came first. On S3 a
        conditional PUT (If-Match on the ETag, If-None-Match: * to create), which S3 and MinIO honour; in a
        local folder the comparison and the replace happen under an exclusive lock on the object's lock file."""
        self.ensure_bucket(bucket)
        path = self._path(bucket, key)
        if not self.is_s3:
            folder, _, name = path.rpartition("/")
            self.fs.makedirs(folder, exist_ok=True)
            with open(f"{folder}/.{name}.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed, also by a process that dies
                if self.read_for_update(bucket, key)[1] != token:
                    return False
                self.write_bytes(bucket, key, data)
                return True
        condition = {"IfMatch": token} if token is not None else {"IfNoneMatch": "*"}
        try:
            self.fs.pipe_file(path, data, **condition)
            return True
        except (OSError, BotoCoreError) as error:
            if isinstance(error, FileExistsError) or _code(error) in LOST_RACE:  # another writer came first
                return False
            with self._failing("write", bucket, key):
                raise


def _code(error: Exception) -> str:
    """The S3 error code of a failed call (s3fs raises OSErrors caused by botocore's ClientError)."""
    cause = error.__cause__ or error
    return getattr(cause, "response", {}).get("Error", {}).get("Code", type(cause).__name__)


def safe_key(key: str) -> str:
    """Refuse keys that could address something outside the bucket."""
    parts = key.split("/")
    if key.startswith("/") or any(part in ("..", ".") for part in parts) or "\\" in key or "\x00" in key:
        raise StorageError(f"refusing unsafe object key {key!r}")
    return key


def warehouse_resource(settings: Settings) -> Warehouse:
    """The warehouse of the settings: a folder, or MinIO through dagster-aws's S3Resource (its credentials
    read through dg.EnvVar when the resource is initialized)."""
    if settings.storage == "local":
        return Warehouse(root_uri="file://" + settings.warehouse_root)
    s3 = S3Resource(
        endpoint_url=settings.s3_endpoint,
        aws_access_key_id=dg.EnvVar("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
        region_name=S3_REGION,
        max_attempts=2,
    )
    return Warehouse(root_uri="s3a://", s3=s3)
