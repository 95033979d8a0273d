"""Download or unpack one `depends` entry of data/depends.toml for kernel-builder.

    fetch_dependency.py download URL DEST   URL to the file DEST (system CA store)
    fetch_dependency.py unpack ARCHIVE DEST  a zip (wheels) or tar archive into DEST

kernel-builder verifies the pinned hash itself (sha256 of a wheel, NAR hash of
an unpacked archive). Tar archives are unpacked with tarfile's `data` filter:
no links or paths out of DEST, no special files.
"""

import shutil
import sys
import tarfile
import urllib.request
import zipfile

# No dependency is near this size; a larger answer is not what was asked for.
MAX_BYTES = 2 << 30
TIMEOUT_S = 60


def download(url, dest):
    if not url.startswith("https://"):
        sys.exit(f"kernel-builder: refusing to download {url}: not https")
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as r, open(dest, "wb") as f:
        total = 0
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > MAX_BYTES:
                sys.exit(f"kernel-builder: {url} is larger than {MAX_BYTES} bytes")
            f.write(chunk)


def unpack(src, dest):
    if zipfile.is_zipfile(src):
        # zipfile never writes outside dest (it drops `..` and absolute parts)
        # and creates no links.
        with zipfile.ZipFile(src) as z:
            z.extractall(dest)
        return
    if not hasattr(tarfile, "data_filter"):
        sys.exit(
            f"kernel-builder: Python {sys.version.split()[0]} has no tarfile data filter "
            "(3.9.17+, 3.10.12+, 3.11.4+ or 3.12+ needed) to unpack archives safely"
        )
    with tarfile.open(src) as t:
        t.extractall(dest, filter="data")


def main(argv):
    if len(argv) != 3 or argv[0] not in ("download", "unpack"):
        sys.exit(__doc__)
    verb, a, b = argv
    if verb == "download":
        download(a, b)
    else:
        shutil.rmtree(b, ignore_errors=True)
        unpack(a, b)


if __name__ == "__main__":
    main(sys.argv[1:])
