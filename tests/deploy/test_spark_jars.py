"""The S3A jars the image puts on Spark's classpath: pinned to pyspark's Hadoop, fetched only when their digest matches.

``image/spark-jars.txt`` names each jar by URL and SHA-256; ``image/fetch_jars.py``
downloads them during the image build. The download is exercised against a
real local HTTP server.
"""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import re
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from types import ModuleType

import pyspark
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFEST = REPO_ROOT / "image" / "spark-jars.txt"


def manifest() -> list[tuple[str, str]]:
    lines = [line for line in MANIFEST.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return [(line.split()[0], line.split()[1]) for line in lines]


def fetch_jars() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_jars", REPO_ROOT / "image" / "fetch_jars.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    """A jar-like file on a local HTTP server: (its URL, its bytes)."""
    content = b"PK\x03\x04 not really a jar"
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "connector-1.0.jar").write_bytes(content)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/connector-1.0.jar", content
    server.shutdown()
    thread.join()


def test_each_jar_is_pinned_by_https_url_and_sha256() -> None:
    assert manifest()
    for url, sha256 in manifest():
        assert url.startswith("https://repo1.maven.org/maven2/")
        assert re.fullmatch(r"[0-9a-f]{64}", sha256)


def test_hadoop_aws_matches_the_hadoop_that_pyspark_bundles() -> None:
    jars = Path(pyspark.__file__).parent / "jars"
    bundled = {
        match.group(1)
        for jar in jars.glob("hadoop-client-api-*.jar")
        if (match := re.search(r"-(\d[\d.]*)\.jar$", jar.name))
    }
    pinned = {url.rsplit("/", 2)[1] for url, _ in manifest() if "/hadoop-aws/" in url}

    assert len(bundled) == 1
    assert pinned == bundled


def test_a_jar_whose_digest_matches_is_written(served: tuple[str, bytes], tmp_path: Path) -> None:
    url, content = served

    fetch_jars().fetch(url, hashlib.sha256(content).hexdigest(), tmp_path)

    assert (tmp_path / "connector-1.0.jar").read_bytes() == content


def test_a_jar_whose_digest_differs_is_refused_and_left_nowhere(served: tuple[str, bytes], tmp_path: Path) -> None:
    url, _ = served

    with pytest.raises(SystemExit, match="does not match the pinned"):
        fetch_jars().fetch(url, "0" * 64, tmp_path)

    assert not list(tmp_path.glob("connector-1.0*"))


def test_only_https_sources_are_fetched(tmp_path: Path) -> None:
    listed = tmp_path / "jars.txt"
    listed.write_text(f"http://repo1.maven.org/maven2/a/b/1/b-1.jar {'0' * 64}\n")

    with pytest.raises(SystemExit, match="only https"):
        fetch_jars().main(str(listed), str(tmp_path / "out"))
