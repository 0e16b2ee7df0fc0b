"""Download the jars listed in a manifest into a directory, refusing any whose SHA-256 differs from its pin.

Used by the image build (no curl or Maven in the base image, only Python). Each manifest line is
``URL SHA256``; blank lines and ``#`` comments are skipped. A jar is written under its final name
only once its digest matches, so a failed or tampered download never lands on Spark's classpath.
"""

from __future__ import annotations

import hashlib
import sys
import urllib.request
from pathlib import Path

CHUNK = 1 << 20


def fetch(url: str, sha256: str, into: Path) -> None:
    target = into / url.rsplit("/", 1)[1]
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:  # noqa: S310 (https only, below)
        while chunk := response.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        partial.unlink()
        sys.exit(f"{url}: SHA-256 {digest.hexdigest()} does not match the pinned {sha256}")
    partial.rename(target)


def main(manifest: str, into: str) -> None:
    Path(into).mkdir(parents=True, exist_ok=True)
    for line in Path(manifest).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            url, sha256 = line.split()
            if not url.startswith("https://"):
                sys.exit(f"{url}: only https sources are fetched")
            fetch(url, sha256, Path(into))


if __name__ == "__main__":
    main(*sys.argv[1:])
