"""Both audio stores against real servers: redis-server (with a 1 MB request limit) and moto's S3 server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from core import keys
from core.audio_store import MB, AudioStore, RedisAudioStore
from core.errors import PayloadTooLarge
from core.job_store import JobStore, utcnow
from core.jobs import JobRecord, JobStatus
from core.s3_audio_store import S3AudioStore
from tests.services import s3_client, start_redis

AUDIO = bytes(range(256)) * (12 * MB // 256) + b"tail"  # 12 MiB and a bit: several pieces and parts


@pytest.fixture(scope="module")
def small_requests_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    """A Redis refusing any request over 1 MB (its minimum), as Upstash refuses those over 10 MB."""
    proc, url = start_redis(tmp_path_factory.mktemp("redis"), "--proto-max-bulk-len", "1mb")
    yield redis.Redis.from_url(url)
    proc.stop()


@pytest.fixture(params=["redis", "s3"])
def audio_store(request: pytest.FixtureRequest, small_requests_redis: redis.Redis, s3_endpoint: str) -> AudioStore:
    small_requests_redis.flushdb()
    if request.param == "redis":
        return RedisAudioStore(small_requests_redis, piece_bytes=MB // 2)
    prefix = f"test-{time.monotonic_ns()}"  # each test sees only its own objects
    return S3AudioStore(s3_client(s3_endpoint), "audio", prefix, part_bytes=5 * MB)


def one_mib_chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), MB):
        yield data[start:start + MB]


def failing_after(data: bytes, chunks: int) -> Iterator[bytes]:
    for number, chunk in enumerate(one_mib_chunks(data)):
        if number == chunks:
            raise PayloadTooLarge("the file is over the limit")
        yield chunk


def test_audio_streamed_in_goes_back_out_whole_and_is_deleted(audio_store: AudioStore) -> None:
    assert audio_store.put("job-1", one_mib_chunks(AUDIO)) == len(AUDIO)
    assert audio_store.get("job-1") == AUDIO
    audio_store.delete("job-1")
    assert audio_store.get("job-1") is None
    audio_store.delete("job-1")  # gone already: no error


def test_a_small_file_is_one_piece(audio_store: AudioStore) -> None:
    assert audio_store.put("job-2", [b"RIFF", b"....WAVE"]) == 12
    assert audio_store.get("job-2") == b"RIFF....WAVE"


def test_an_upload_that_fails_half_way_leaves_nothing(audio_store: AudioStore) -> None:
    with pytest.raises(PayloadTooLarge):
        audio_store.put("job-3", failing_after(AUDIO, 11))
    assert audio_store.get("job-3") is None
    if isinstance(audio_store, S3AudioStore):
        listed = audio_store.s3.list_multipart_uploads(Bucket="audio", Prefix=audio_store.prefix)
        assert listed.get("Uploads", []) == []
    elif isinstance(audio_store, RedisAudioStore):
        assert audio_store.redis.keys("*") == []


def test_redis_pieces_fit_the_request_limit_expire_until_the_job_exists_and_end_with_it(
    small_requests_redis: redis.Redis,
) -> None:
    small_requests_redis.flushdb()
    audio = RedisAudioStore(small_requests_redis, piece_bytes=MB // 2, pending_seconds=600)
    audio.put("job-4", one_mib_chunks(AUDIO))
    key = keys.audio_key("job-4")
    lengths = [len(p) for p in small_requests_redis.lrange(key, 0, -1)]
    assert max(lengths) == MB // 2 and sum(lengths) == len(AUDIO)
    assert 0 < small_requests_redis.ttl(key) <= 600

    store = JobStore(small_requests_redis, retention_seconds=7200)
    store.create(JobRecord(id="job-4", created_at=utcnow()))
    assert 600 < small_requests_redis.ttl(key) <= 7200
    assert store.get_audio("job-4") == AUDIO

    store.cancel("job-4")  # queued: ends at once, audio deleted in the same transaction
    assert store.get("job-4").status == JobStatus.CANCELLED and small_requests_redis.exists(key) == 0


def test_audio_stored_whole_by_an_earlier_version_is_still_read(small_requests_redis: redis.Redis) -> None:
    small_requests_redis.flushdb()
    small_requests_redis.set(keys.audio_key("job-5"), b"RIFF....WAVE")
    assert RedisAudioStore(small_requests_redis).get("job-5") == b"RIFF....WAVE"


def test_the_s3_sweep_deletes_audio_of_jobs_that_are_over_and_spares_the_rest(s3_endpoint: str) -> None:
    s3 = s3_client(s3_endpoint)
    young = S3AudioStore(s3, "audio", "sweep", pending_seconds=3600)
    old = S3AudioStore(s3, "audio", "sweep", pending_seconds=0)
    for job_id in ("open", "ended", "erased"):
        old.put(job_id, [b"RIFF....WAVE"])
    started = s3.create_multipart_upload(Bucket="audio", Key="sweep/cut-off")["UploadId"]

    assert young.sweep(keep=lambda job_id: False) == 0  # within the upload window: may not be stored yet
    time.sleep(1.1)  # S3 times are whole seconds
    assert old.sweep(keep=lambda job_id: job_id == "open") == 2

    left = [o["Key"] for o in s3.list_objects_v2(Bucket="audio", Prefix="sweep/")["Contents"]]
    assert left == ["sweep/open"]
    uploads = s3.list_multipart_uploads(Bucket="audio", Prefix="sweep/").get("Uploads", [])
    assert started not in [u["UploadId"] for u in uploads]


def test_the_store_is_chosen_by_one_url(tmp_path: Path, small_requests_redis: redis.Redis) -> None:
    from core.audio_store import make_audio_store
    from core.settings import S3StoreSettings, StorageSettings

    assert isinstance(make_audio_store(StorageSettings(), small_requests_redis), RedisAudioStore)
    s3 = S3StoreSettings(endpoint_url="http://127.0.0.1:1", region="auto")
    chosen = make_audio_store(StorageSettings(url="s3://bucket/audio/", s3=s3), small_requests_redis)
    assert isinstance(chosen, S3AudioStore) and (chosen.bucket, chosen.key("j")) == ("bucket", "audio/j")
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        make_audio_store(StorageSettings(url="https://bucket"), small_requests_redis)
