"""A real S3-protocol server for the tests: moto's standalone server (werkzeug, HTTP on a
loopback port), which the media store reaches with the same client as production.

Its buckets live in this test process (moto's in-memory backends), so a server stopped and
started again on the same port finds them as they were: an outage, not a new store.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Iterator
from typing import Any

import pytest

__all__ = ["S3Server", "s3_server"]

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class S3Server:
    """moto's server on ``127.0.0.1:port``; :meth:`stop` and :meth:`start` for outages."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request else
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def client(self) -> Any:
        """A plain (blocking) boto3 client, for tests to look into the bucket."""
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1")

    def new_bucket(self) -> str:
        name = f"cms-test-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        client = self.client()
        found: dict[str, bytes] = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                found[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])[
                    "Body"
                ].read()
        return found

    def media_settings(self, bucket: str, **options: Any) -> dict[str, Any]:
        """``[media]`` settings for a store in ``bucket``."""
        return {
            "backend": "s3",
            "options": {
                "bucket": bucket,
                "endpoint_url": self.url,
                "region": "us-east-1",
                "addressing_style": "path",
                "timeout": 1.0,
                **options,
            },
        }


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One moto server for the test session (each test makes a bucket of its own); the
    AWS credentials it accepts are in the environment, as production reads them."""
    saved = {name: os.environ.get(name) for name in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    server = S3Server()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
