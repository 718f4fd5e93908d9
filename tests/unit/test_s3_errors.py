"""Which object-store errors pass with time (`storage_unavailable`, retried) and which do not: botocore's
Stubber answers in place of S3, so no request leaves the process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from api.errors import http_status_of
from core.errors import RetryLater, StorageUnavailable
from core.s3_audio_store import S3AudioStore


@pytest.fixture()
def stubbed() -> Iterator[tuple[S3AudioStore, Stubber]]:
    client: Any = boto3.client("s3", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                               aws_access_key_id="test", aws_secret_access_key="test")
    with Stubber(client) as stubber:
        yield S3AudioStore(client, "audio", "uploads"), stubber


@pytest.mark.parametrize(("code", "status"), [("SlowDown", 503), ("ServiceUnavailable", 503),
                                              ("InternalError", 500), ("RequestTimeout", 400)])
def test_a_store_that_is_struggling_is_unavailable_for_a_while(
    stubbed: tuple[S3AudioStore, Stubber], code: str, status: int,
) -> None:
    store, stubber = stubbed
    for method in ("get_object", "put_object", "delete_object"):
        stubber.add_client_error(method, code, http_status_code=status)

    for call in (lambda: store.get("job-1"), lambda: store.put("job-1", [b"RIFF"]), lambda: store.delete("job-1")):
        with pytest.raises(StorageUnavailable) as caught:
            call()
        assert isinstance(caught.value, RetryLater)
        assert (caught.value.code, http_status_of(caught.value), caught.value.retry_after) == (
            "storage_unavailable", 503, 5)
        assert caught.value.message == "the audio store is unavailable; nothing was lost, try again in a moment"


def test_missing_audio_is_gone_and_refused_access_is_not_an_outage(stubbed: tuple[S3AudioStore, Stubber]) -> None:
    store, stubber = stubbed
    stubber.add_client_error("get_object", "NoSuchKey", http_status_code=404)
    stubber.add_client_error("get_object", "AccessDenied", http_status_code=403)

    assert store.get("job-1") is None
    with pytest.raises(ClientError) as caught:
        store.get("job-1")
    assert not isinstance(caught.value, StorageUnavailable)
    assert caught.value.response["Error"]["Code"] == "AccessDenied"

