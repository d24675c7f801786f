"""Landing raw pages: locally by default, and on S3 (a local moto server) with server-side encryption."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from adapters.testing import free_port
from canonical import blobs, landing
from canonical.cycle import run_cycle


def test_local_landing_round_trips_under_the_var_dir(isolated_state):
    uri = landing.put_page("zendesk/users", "manual__2026-01-01T00:00:00+00:00", 1, {"records": [{"id": 1}]})
    assert uri.startswith(str(isolated_state / "var" / "landing")) and ":" not in Path(uri).name
    assert landing.get_page(uri) == {"records": [{"id": 1}]}


@pytest.fixture
def s3(monkeypatch):
    """A moto S3 server on 127.0.0.1 and a bucket; CONCORD_LANDING_URL points at it."""
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(f"http://127.0.0.1:{port}/")
        for name, value in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
                            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                            "CONCORD_LANDING_URL": "s3://concord-landing/raw"}.items():
            monkeypatch.setenv(name, value)
        blobs._s3.cache_clear()
        blobs._s3().create_bucket(Bucket="concord-landing")
        yield blobs._s3()
    finally:
        blobs._s3.cache_clear()
        server.terminate()
        server.wait(timeout=10)


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError(f"moto server did not start at {url}")


def test_s3_landing_encrypts_every_object_and_reads_it_back(s3):
    uri = landing.put_page("zendesk/users", "run:1", 1, {"records": [{"id": 7}]})
    assert uri == "s3://concord-landing/raw/zendesk/users/run_1/page-00001.json"
    head = s3.head_object(Bucket="concord-landing", Key="raw/zendesk/users/run_1/page-00001.json")
    assert head["ServerSideEncryption"] == "AES256"
    assert landing.get_page(uri) == {"records": [{"id": 7}]}


def test_a_sync_cycle_lands_on_s3(s3, zendesk):
    summary = run_cycle()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="concord-landing")["Contents"]]
    assert summary["read"]["zendesk"] > 0 and any(k.startswith("raw/zendesk/users/cli__") for k in keys)
    assert all(s3.head_object(Bucket="concord-landing", Key=k)["ServerSideEncryption"] == "AES256" for k in keys)
