"""The blob store: the bytes of documents, uploads and proofs of delivery.

The gateway streams an upload into it (``put``) and hands the key to a service; the service reads
it back (``open``, or ``local_path`` for parsers that want a file name). Keys are generated here,
``<prefix>/<yyyy>/<mm>/<uuid4 hex>``, never derived from a user's file name, and every method that
takes a key refuses one of any other shape, so no key can point outside the store.

Two stores: files under ``BLOB_DIR`` (default ``VAR_DIR/blobs``), or an S3-compatible bucket when
``BLOB_S3_BUCKET`` is set (``BLOB_S3_URL`` names a non-AWS endpoint such as MinIO). boto3 is
imported only by the S3 store, so it is needed only where one is configured.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, ContextManager, Iterator, Protocol
from urllib.parse import urlparse

from services.common.config import env, env_float, var_dir
from services.common.errors import NotFound, PayloadTooLarge, ServiceUnavailable

CHUNK = 1 << 20                      # bytes read from an upload at a time
TEMP_PREFIX = ".tmp-"                # a local blob being written; never a key
_SEGMENT = r"[a-z0-9][a-z0-9_-]{0,31}"
_PREFIX_RE = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT}){{0,3}}")
_KEY_RE = re.compile(rf"(?:{_SEGMENT}/){{0,4}}[0-9]{{4}}/(?:0[1-9]|1[0-2])/[0-9a-f]{{32}}")


@dataclass(frozen=True)
class StoredBlob:
    key: str
    size: int
    sha256: str


class InvalidBlobKey(NotFound):
    """A key that is not of the shape this store makes: refused before touching storage."""

    default_message = "No such file."


class BlobStore(Protocol):
    def put(self, stream: BinaryIO, *, max_bytes: int | None = None, prefix: str = "") -> StoredBlob: ...
    def put_bytes(self, data: bytes, *, prefix: str = "") -> StoredBlob: ...
    def open(self, key: str) -> BinaryIO: ...
    def local_path(self, key: str) -> ContextManager[str]: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...


# --- keys ----------------------------------------------------------------------------------------
def new_key(prefix: str = "") -> str:
    """``<prefix>/<yyyy>/<mm>/<uuid4 hex>`` (UTC year and month); the prefix is a few lower-case
    segments such as ``uploads`` or ``pod/photos``, chosen by code, never by a user."""
    if prefix and not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"bad blob key prefix {prefix!r}")
    now = datetime.now(timezone.utc)
    return f"{prefix + '/' if prefix else ''}{now:%Y/%m}/{uuid.uuid4().hex}"


def is_valid_key(key: Any) -> bool:
    return isinstance(key, str) and _KEY_RE.fullmatch(key) is not None


def check_key(key: Any) -> str:
    if not is_valid_key(key):
        raise InvalidBlobKey(details={"key": str(key)[:200]})
    return key


# --- reading an upload: size limit and digest on the way through ---------------------------------
def _limit_text(max_bytes: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if max_bytes >= size:
            return f"{max_bytes / size:.3g} {unit}"
    return f"{max_bytes} bytes"


def too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The file is larger than {_limit_text(max_bytes)}, the most accepted.",
                           {"max_bytes": max_bytes})


class _Metered(io.RawIOBase):
    """Reads a stream through, counting its bytes and hashing them; raises PayloadTooLarge as soon
    as more than ``max_bytes`` have come. Not seekable, so uploaders read it once, in order."""

    def __init__(self, stream: BinaryIO, max_bytes: int | None):
        super().__init__()
        self._stream = stream
        self._max = max_bytes
        self.size = 0
        self._digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (CHUNK when unbounded), short only at the end of the stream: boto3
        takes a short read for the end of the file, and request streams do read short."""
        want = CHUNK if n is None or n < 0 else n
        parts, got = [], 0
        while got < want:
            chunk = self._stream.read(want - got)
            if not chunk:
                break
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise TypeError("the blob store takes a binary stream")
            self.size += len(chunk)
            if self._max is not None and self.size > self._max:
                raise too_large(self._max)
            self._digest.update(chunk)
            parts.append(bytes(chunk))
            got += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def readinto(self, buffer) -> int:  # pragma: no cover - read() is what our writers call
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def readall(self) -> bytes:  # pragma: no cover - never used: it would hold the whole file
        raise io.UnsupportedOperation("read the stream in chunks")

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


# --- files on the local disk ---------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


class LocalBlobStore:
    """Blobs as files under ``root``, one per key. A blob is written to a temporary file in its
    final directory, flushed to disk, then renamed onto its key: a crash leaves at most a
    ``.tmp-*`` file (see ``remove_stale_temp_files``), never a partial blob under a key."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def put(self, stream: BinaryIO, *, max_bytes: int | None = None, prefix: str = "") -> StoredBlob:
        key = new_key(prefix)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
        metered = _Metered(stream, max_bytes)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := metered.read(CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o640)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        _fsync_dir(path.parent)
        return StoredBlob(key, metered.size, metered.sha256)

    def put_bytes(self, data: bytes, *, prefix: str = "") -> StoredBlob:
        return self.put(io.BytesIO(data), prefix=prefix)

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound("No such file.", {"key": key}) from None

    @contextmanager
    def local_path(self, key: str) -> Iterator[str]:
        path = self._path(key)
        if not path.is_file():
            raise NotFound("No such file.", {"key": key})
        yield str(path)

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            pass

    def exists(self, key: str) -> bool:
        return is_valid_key(key) and self._path(key).is_file()

    def remove_stale_temp_files(self, older_than: float = 24 * 3600) -> int:
        """Delete the temporary files of writes that never finished (a killed process), older
        than ``older_than`` seconds; returns how many. Safe to run while others write."""
        cutoff, removed = time.time() - older_than, 0
        for path in self.root.rglob(TEMP_PREFIX + "*"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        return removed


# --- S3-compatible storage -----------------------------------------------------------------------
_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


class S3BlobStore:
    """Blobs as objects of one bucket of S3 or an S3-compatible server (MinIO, Ceph, R2...).

    Uploads go through ``upload_fileobj`` (multipart above 8 MB) from a metering wrapper, so the
    file is never held whole in memory and an upload past ``max_bytes`` stops at once; boto3
    aborts the multipart upload, so nothing is left behind. Objects are never overwritten."""

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, region: str | None = None,
                 addressing: str = "auto", connect_timeout: float = 5.0, read_timeout: float = 30.0,
                 client: Any = None):
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self.endpoint_url = endpoint_url
        if addressing == "auto":
            host = (urlparse(endpoint_url).hostname or "") if endpoint_url else "amazonaws.com"
            addressing = "virtual" if host.endswith("amazonaws.com") else "path"
        if addressing not in ("path", "virtual"):
            raise ValueError("BLOB_S3_ADDRESSING is auto, path or virtual")
        if region is None and endpoint_url:
            found = re.search(r"(?:^|\.)s3[.-]([a-z0-9-]+)\.amazonaws\.com$", urlparse(endpoint_url).hostname or "")
            region = found.group(1) if found else None
        config = Config(connect_timeout=connect_timeout, read_timeout=read_timeout,
                        retries={"max_attempts": 3, "mode": "standard"},
                        s3={"addressing_style": addressing},
                        # third-party S3 servers do not all take the newer default checksums
                        request_checksum_calculation="when_required",
                        response_checksum_validation="when_required")
        # A session of our own: boto3's default session is not safe to share between threads.
        self._client = client or boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=config)
        self._transfer = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20,
                                        use_threads=False)
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

        self._client_error, self._unreachable = ClientError, (ConnectionError, HTTPClientError)

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r}, endpoint_url={self.endpoint_url!r})"

    @property
    def client(self) -> Any:
        return self._client

    @contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        """A missing object is NotFound; a store that does not answer (no connection, a
        timeout, 5xx after boto3's retries) is ServiceUnavailable (503, retry); anything else
        (access denied, no such bucket, no credentials) is a configuration error and goes up
        as it is."""
        try:
            yield
        except self._client_error as exc:
            error = exc.response.get("Error", {})
            if str(error.get("Code")) in _MISSING_CODES:
                raise NotFound("No such file.", {"key": key}) from None
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            if status >= 500 or error.get("Code") in ("SlowDown", "ServiceUnavailable"):
                raise ServiceUnavailable("The file store is not answering; retry shortly.") from exc
            raise
        except self._unreachable as exc:
            raise ServiceUnavailable("The file store is not answering; retry shortly.") from exc

    def put(self, stream: BinaryIO, *, max_bytes: int | None = None, prefix: str = "") -> StoredBlob:
        key = new_key(prefix)
        metered = _Metered(stream, max_bytes)
        with self._errors(key):
            self._client.upload_fileobj(metered, self.bucket, key, Config=self._transfer)
        return StoredBlob(key, metered.size, metered.sha256)

    def put_bytes(self, data: bytes, *, prefix: str = "") -> StoredBlob:
        key = new_key(prefix)
        with self._errors(key):
            self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentLength=len(data))
        return StoredBlob(key, len(data), hashlib.sha256(data).hexdigest())

    def open(self, key: str) -> BinaryIO:
        check_key(key)
        with self._errors(key):
            first = self._client.get_object(Bucket=self.bucket, Key=key)
        return io.BufferedReader(_S3Reader(self, key, first), buffer_size=256 << 10)

    @contextmanager
    def local_path(self, key: str) -> Iterator[str]:
        check_key(key)
        fd, tmp = tempfile.mkstemp(prefix="blob-")
        try:
            with os.fdopen(fd, "wb") as out, self._errors(key):
                self._client.download_fileobj(self.bucket, key, out, Config=self._transfer)
            yield tmp
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass

    def delete(self, key: str) -> None:
        check_key(key)
        try:
            with self._errors(key):
                self._client.delete_object(Bucket=self.bucket, Key=key)
        except NotFound:
            pass

    def exists(self, key: str) -> bool:
        if not is_valid_key(key):
            return False
        try:
            with self._errors(key):
                self._client.head_object(Bucket=self.bucket, Key=key)
        except NotFound:
            return False
        return True


class _S3Reader(io.RawIOBase):
    """An object read as a stream; seeking closes the current response and the next read asks
    for the rest from there (a ranged GET), so parsers that seek work without a download."""

    def __init__(self, store: S3BlobStore, key: str, first: dict):
        super().__init__()
        self._store, self._key = store, key
        self._body = first["Body"]
        self._size = int(first["ContentLength"])
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        target = base + offset
        if target < 0:
            raise ValueError("negative seek position")
        if target != self._pos:
            self._drop_body()
            self._pos = target
        return self._pos

    def readinto(self, buffer) -> int:
        if self._pos >= self._size or len(buffer) == 0:
            return 0
        store = self._store
        with store._errors(self._key):
            if self._body is None:
                self._body = store.client.get_object(Bucket=store.bucket, Key=self._key,
                                                     Range=f"bytes={self._pos}-")["Body"]
            data = self._body.read(min(len(buffer), self._size - self._pos))
        if not data:  # the connection ended early without an error
            self._drop_body()
            raise ServiceUnavailable("The file store ended a download early; retry shortly.")
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        if not self.closed:
            self._drop_body()
        super().close()


# --- the store of this process -------------------------------------------------------------------
_stores: dict[int, BlobStore] = {}
_lock = threading.Lock()


def _from_config() -> BlobStore:
    bucket, url = env("BLOB_S3_BUCKET"), env("BLOB_S3_URL")
    if bucket:
        return S3BlobStore(bucket, endpoint_url=url, region=env("BLOB_S3_REGION"),
                           addressing=env("BLOB_S3_ADDRESSING") or "auto",
                           connect_timeout=env_float("BLOB_S3_CONNECT_TIMEOUT"),
                           read_timeout=env_float("BLOB_S3_READ_TIMEOUT"))
    if url:
        raise RuntimeError("BLOB_S3_URL is set but BLOB_S3_BUCKET is not: set both to keep files "
                           "in S3, or neither to keep them under BLOB_DIR")
    return LocalBlobStore(env("BLOB_DIR") or var_dir() / "blobs")


def blob_store() -> BlobStore:
    """The store the configuration names, made once per process (a forked worker makes its own:
    boto3 clients must not cross a fork)."""
    pid = os.getpid()
    store = _stores.get(pid)
    if store is None:
        with _lock:
            store = _stores.get(pid)
            if store is None:
                _stores.clear()
                store = _stores[pid] = _from_config()
    return store


def reset_blob_store() -> None:
    """Forget the store made from the configuration (tests that change it)."""
    with _lock:
        _stores.clear()
