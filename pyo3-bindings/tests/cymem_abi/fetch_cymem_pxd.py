"""Upstream cymem's own ``.pxd`` files, from cymem's sdist on PyPI.

``pxd_dir(root)`` gives a directory holding ``cymem/__init__.pxd`` and
``cymem/cymem.pxd`` exactly as cymem ships them: the declarations spaCy,
thinc and preshed were compiled against. Downloaded once (the link from PyPI's
simple index, then the sdist from its file host) into ``root/<version>/``,
checked against the sha256 the index publishes, and reused. ``python fetch_cymem_pxd.py ROOT``
prints the directory.
"""

import hashlib
import io
import re
import os
import sys
import tarfile
import urllib.request

VERSION = "2.0.16"


def pxd_dir(root, version=VERSION):
    out = os.path.join(root, version)
    if os.path.exists(os.path.join(out, "cymem", "cymem.pxd")):
        return out
    with urllib.request.urlopen("https://pypi.org/simple/cymem/", timeout=60) as response:
        index = response.read().decode()
    name = re.escape(f"cymem-{version}.tar.gz")
    match = re.search(r'href="([^"#]*/' + name + r')#sha256=([0-9a-f]{64})"', index)
    if match is None:
        raise RuntimeError(f"cymem {version}: no sdist in PyPI's simple index")
    url, expected = match.groups()
    with urllib.request.urlopen(url, timeout=120) as response:
        data = response.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise RuntimeError(f"cymem {version} sdist: sha256 {digest}, PyPI says {expected}")
    staging = out + ".partial"
    os.makedirs(os.path.join(staging, "cymem"), exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        found = 0
        for member in archive.getmembers():
            parts = member.name.split("/")
            if len(parts) == 3 and parts[1] == "cymem" and parts[2].endswith(".pxd") and member.isfile():
                with open(os.path.join(staging, "cymem", parts[2]), "wb") as f:
                    f.write(archive.extractfile(member).read())
                found += 1
    if not os.path.exists(os.path.join(staging, "cymem", "cymem.pxd")):
        raise RuntimeError(f"cymem {version} sdist: no cymem/cymem.pxd ({found} .pxd files)")
    os.replace(staging, out)
    return out


if __name__ == "__main__":
    print(pxd_dir(sys.argv[1]))
