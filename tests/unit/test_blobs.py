"""The blob store: files under a directory, and an S3 bucket on a real S3 HTTP server.

The S3 tests run moto's standalone server (``moto[s3]`` with flask-cors: real HTTP, real S3
protocol, on 127.0.0.1) in a thread of this process; under the eventlet patching of conftest.py that thread is
a greenthread with a green socket, so it serves while boto3's (green) socket waits for it. They
are skipped when moto or boto3 is not installed.
"""
import hashlib
import io
import os
import re
from pathlib import Path

import pytest

from services.common import blobs
from services.common.blobs import (CHUNK, InvalidBlobKey, LocalBlobStore, StoredBlob, blob_store,
                                   new_key, reset_blob_store)
from services.common.errors import NotFound, PayloadTooLarge, ServiceUnavailable

SETTINGS = ("BLOB_DIR", "BLOB_S3_URL", "BLOB_S3_BUCKET", "BLOB_S3_REGION", "BLOB_S3_ADDRESSING",
            "BLOB_S3_CONNECT_TIMEOUT", "BLOB_S3_READ_TIMEOUT")
KEY_RE = re.compile(r"uploads/\d{4}/\d{2}/[0-9a-f]{32}")


@pytest.fixture(autouse=True)
def settings(monkeypatch, tmp_path):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    reset_blob_store()
    yield
    reset_blob_store()


@pytest.fixture
def store(tmp_path):
    return LocalBlobStore(tmp_path / "blobs")


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


class Trickle(io.RawIOBase):
    """An upload as a request body delivers it: short reads, and a record of what was asked."""

    PATTERN = bytes(range(251)) * ((CHUNK + 300_000) // 251 + 2)

    def __init__(self, size: int, piece: int = 70_001, fail_at: int | None = None):
        self.left, self.piece, self.fail_at, self.sent = size, piece, fail_at, 0
        self.asked: list[int] = []
        self.digest = hashlib.sha256()
        assert piece <= CHUNK + 300_000

    def readable(self):
        return True

    def read(self, n=-1):
        self.asked.append(n)
        if self.fail_at is not None and self.sent >= self.fail_at:
            raise ConnectionResetError("client went away")
        take = min(self.left, self.piece, n if n and n > 0 else self.piece)
        data = self.PATTERN[self.sent % 251:self.sent % 251 + take]
        self.left -= take
        self.sent += take
        self.digest.update(data)
        return data


# --- local store ---------------------------------------------------------------------------------
def test_put_open_exists_delete(store):
    blob = store.put(io.BytesIO(b"hello blob"), prefix="uploads")
    assert isinstance(blob, StoredBlob)
    assert KEY_RE.fullmatch(blob.key)
    assert blob.size == 10 and blob.sha256 == hashlib.sha256(b"hello blob").hexdigest()
    assert store.exists(blob.key)
    with store.open(blob.key) as stream:
        assert stream.read() == b"hello blob"
        stream.seek(6)
        assert stream.read() == b"blob"
    with store.local_path(blob.key) as path:
        assert Path(path).read_bytes() == b"hello blob"
        assert Path(path).is_relative_to(store.root)
    store.delete(blob.key)
    assert not store.exists(blob.key)
    with pytest.raises(NotFound):
        store.open(blob.key)
    with pytest.raises(NotFound):
        with store.local_path(blob.key):
            pass
    store.delete(blob.key)  # missing is fine


def test_put_bytes_and_keys_never_repeat(store):
    first, second = store.put_bytes(b"x", prefix="thumbs"), store.put_bytes(b"x", prefix="thumbs")
    assert first.key != second.key and first.key.startswith("thumbs/")
    assert re.fullmatch(r"\d{4}/\d{2}/[0-9a-f]{32}", store.put_bytes(b"").key)
    assert store.put_bytes(b"").size == 0


def test_put_streams_in_chunks(store):
    upload = Trickle(5 * CHUNK + 123)
    blob = store.put(upload, max_bytes=6 * CHUNK, prefix="uploads")
    assert blob.size == 5 * CHUNK + 123
    assert blob.sha256 == upload.digest.hexdigest()
    assert max(upload.asked) <= CHUNK and -1 not in upload.asked  # never "read it all"
    with store.open(blob.key) as stream:
        assert hashlib.sha256(stream.read()).hexdigest() == blob.sha256


def test_put_past_max_bytes_leaves_nothing(store):
    with pytest.raises(PayloadTooLarge) as caught:
        store.put(Trickle(3 * CHUNK), max_bytes=2 * CHUNK, prefix="uploads")
    assert caught.value.status == 413 and caught.value.details == {"max_bytes": 2 * CHUNK}
    assert "2 MB" in caught.value.message
    assert files_under(store.root) == []
    assert store.put(Trickle(1000), max_bytes=1000).size == 1000  # exactly the limit is fine


def test_a_broken_upload_leaves_nothing(store):
    with pytest.raises(ConnectionResetError):
        store.put(Trickle(3 * CHUNK, fail_at=CHUNK + 5), prefix="uploads")
    assert files_under(store.root) == []


def test_put_is_atomic(store, monkeypatch):
    """The blob appears under its key only whole: written to a temp file beside it, fsynced,
    then renamed; no temp file is left."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append("fsync")
        return real_fsync(fd)

    def replace(src, dst):
        assert not Path(dst).exists()
        assert Path(src).name.startswith(".tmp-") and Path(src).parent == Path(dst).parent
        assert Path(src).stat().st_size == 3 * CHUNK
        events.append("replace")
        return real_replace(src, dst)

    monkeypatch.setattr(blobs.os, "fsync", fsync)
    monkeypatch.setattr(blobs.os, "replace", replace)
    blob = store.put(Trickle(3 * CHUNK), prefix="uploads")
    assert events[:2] == ["fsync", "replace"]
    assert [p.name for p in files_under(store.root)] == [blob.key.rsplit("/", 1)[1]]


def test_stale_temp_files_are_swept(store):
    blob = store.put_bytes(b"keep", prefix="uploads")
    stale = store.root / "uploads" / ".tmp-crashed"
    stale.write_bytes(b"half")
    os.utime(stale, (1, 1))
    fresh = store.root / "uploads" / ".tmp-writing"
    fresh.write_bytes(b"in flight")
    assert store.remove_stale_temp_files(older_than=3600) == 1
    assert not stale.exists() and fresh.exists() and store.exists(blob.key)


BAD_KEYS = [
    "../etc/passwd", "/etc/passwd", "uploads/../../etc/passwd", "uploads\\2024\\01\\" + "a" * 32,
    "uploads/2024/01/../../../x", "uploads/2024/01/" + "A" * 32, "uploads/2024/13/" + "a" * 32,
    "uploads/2024/01/" + "a" * 31, "uploads/2024/01/" + "a" * 32 + "/", "Uploads/2024/01/" + "a" * 32,
    "uploads/2024/01/" + "a" * 32 + "\0", "", None, 42, "report.pdf", "~/2024/01/" + "a" * 32,
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_keys_not_of_our_shape_are_refused(store, key):
    with pytest.raises(InvalidBlobKey):
        store.open(key)
    with pytest.raises(InvalidBlobKey):
        store.delete(key)
    with pytest.raises(InvalidBlobKey):
        with store.local_path(key):
            pass
    assert store.exists(key) is False


def test_invalid_key_is_a_not_found(store):
    assert issubclass(InvalidBlobKey, NotFound)


@pytest.mark.parametrize("prefix", ["../x", "/abs", "a/../b", "UP", "a\\b", "a//b", "a/"])
def test_bad_prefixes_are_refused(store, prefix):
    with pytest.raises(ValueError):
        store.put_bytes(b"x", prefix=prefix)


def test_new_key_shape():
    assert re.fullmatch(r"pod/photos/\d{4}/\d{2}/[0-9a-f]{32}", new_key("pod/photos"))


# --- configuration -------------------------------------------------------------------------------
def test_default_store_is_local_under_var_dir(tmp_path):
    store = blob_store()
    assert isinstance(store, LocalBlobStore)
    assert store.root == (tmp_path / "var" / "blobs").resolve()
    assert blob_store() is store  # cached per process


def test_blob_dir_overrides(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOB_DIR", str(tmp_path / "elsewhere"))
    assert blob_store().root == (tmp_path / "elsewhere").resolve()


def test_s3_url_without_bucket_is_an_error(monkeypatch):
    monkeypatch.setenv("BLOB_S3_URL", "http://127.0.0.1:9000")
    with pytest.raises(RuntimeError, match="BLOB_S3_BUCKET"):
        blob_store()


# --- S3, against a real S3 HTTP server -----------------------------------------------------------
BUCKET = "portal-test-blobs"


@pytest.fixture(scope="module")
def s3_server():
    pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server", reason="needs moto[s3] and flask-cors")
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN")}
    os.environ.update(AWS_ACCESS_KEY_ID="test-key", AWS_SECRET_ACCESS_KEY="test-secret",
                      AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_SESSION_TOKEN", None)
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture
def s3(s3_server, monkeypatch):
    monkeypatch.setenv("BLOB_S3_URL", s3_server)
    monkeypatch.setenv("BLOB_S3_BUCKET", BUCKET)
    store = blob_store()
    client = store.client
    client.create_bucket(Bucket=BUCKET)
    yield store
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    for upload in client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []):
        client.abort_multipart_upload(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"])
    client.delete_bucket(Bucket=BUCKET)


def nothing_in(store) -> bool:
    client = store.client
    return (not client.list_objects_v2(Bucket=BUCKET).get("Contents")
            and not client.list_multipart_uploads(Bucket=BUCKET).get("Uploads"))


def test_s3_is_configured_with_timeouts(s3, s3_server):
    assert isinstance(s3, blobs.S3BlobStore)
    assert s3.client.meta.config.connect_timeout == 5 and s3.client.meta.config.read_timeout == 30
    assert s3.client.meta.endpoint_url == s3_server
    assert s3.client.meta.config.s3["addressing_style"] == "path"


def test_s3_put_open_exists_delete(s3):
    blob = s3.put(io.BytesIO(b"0123456789" * 100), max_bytes=1000, prefix="uploads")
    assert KEY_RE.fullmatch(blob.key) and blob.size == 1000
    assert s3.exists(blob.key)
    with s3.open(blob.key) as stream:
        assert stream.read(10) == b"0123456789"
        assert stream.seekable()
        stream.seek(-5, io.SEEK_END)  # a ranged GET from there
        assert stream.read() == b"56789"
        stream.seek(3)
        assert stream.read(4) == b"3456"
    with s3.local_path(blob.key) as path:
        assert Path(path).read_bytes() == b"0123456789" * 100
    assert not Path(path).exists()
    small = s3.put_bytes(b"thumb", prefix="thumbs")
    assert small.sha256 == hashlib.sha256(b"thumb").hexdigest()
    with s3.open(small.key) as stream:
        assert stream.read() == b"thumb"
    s3.delete(blob.key)
    s3.delete(blob.key)  # missing is fine
    assert not s3.exists(blob.key)
    with pytest.raises(NotFound):
        s3.open(blob.key)
    with pytest.raises(NotFound):
        with s3.local_path(blob.key):
            pass
    for key in ("../etc/passwd", "uploads/2024/01/../../x"):
        with pytest.raises(InvalidBlobKey):
            s3.open(key)
        assert s3.exists(key) is False


def test_s3_multipart_upload_streams(s3):
    upload = Trickle(17 * CHUNK + 7, piece=300_000)  # 3 parts of 8 MB
    blob = s3.put(upload, max_bytes=20 * CHUNK, prefix="uploads")
    assert blob.size == 17 * CHUNK + 7 and blob.sha256 == upload.digest.hexdigest()
    assert s3.client.head_object(Bucket=BUCKET, Key=blob.key)["ContentLength"] == blob.size
    with s3.local_path(blob.key) as path:
        assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == blob.sha256


@pytest.mark.parametrize("size,limit", [(3 * CHUNK, 2 * CHUNK), (20 * CHUNK, 12 * CHUNK)])
def test_s3_past_max_bytes_leaves_nothing(s3, size, limit):
    """Below the multipart threshold the limit trips before any request; above it, after a part
    went up: the multipart upload is aborted."""
    calls = []
    s3.client.meta.events.register("before-call.s3.*", lambda model, **kw: calls.append(model.name))
    with pytest.raises(PayloadTooLarge):
        s3.put(Trickle(size, piece=1 << 20), max_bytes=limit, prefix="uploads")
    made = list(calls)
    assert nothing_in(s3)
    if size > 8 * CHUNK:
        assert made == ["CreateMultipartUpload", "UploadPart", "AbortMultipartUpload"]
    else:
        assert made == []


def test_s3_not_answering_is_service_unavailable(monkeypatch):
    pytest.importorskip("boto3")
    import socket

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = blobs.S3BlobStore(BUCKET, endpoint_url=f"http://127.0.0.1:{port}", region="us-east-1",
                              connect_timeout=0.5, read_timeout=0.5)
    with pytest.raises(ServiceUnavailable):
        store.exists(new_key("uploads"))
