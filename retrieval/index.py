"""Build, publish and load the search index.

Layout under the index folder (``models/index`` by default)::

    CURRENT                 name of the build being served (replaced atomically on publish)
    builds/<name>/          one complete build: meta.json, units.jsonl, guides.json, dense.npy
                            (the unit vectors) and dense.faiss (the FAISS index served, retrieval/dense.py)

and, outside the clone (``~/.cache/tro-ly-dvc/embeddings/<model>.npz``), the embedding cache:
sha1(text) -> vector, so a rebuild (or a fresh clone in CI) embeds only what changed.

A build is written in full to its own folder before CURRENT points to it, so a reader never sees
half an index, and a failed build leaves the served one untouched.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.settings import cache_root
from retrieval import dense
from retrieval.documents import Guide, GuideError, Section, load_guides, render
from retrieval.encoders import Encoder

# 2: every build with vectors carries dense.faiss (a format-1 build is refused: run `make index`).
FORMAT_VERSION = 2
# Builds kept besides the current one, so a reader that opened an older build can finish.
KEEP_BUILDS = 3
# Placeholders are configuration; the index holds neutral words so it does not depend on it.
# Sections are indexed in pieces of about this many words (syllables): a piece about one step
# matches a question about that step better than a whole section does, and embeds faster.
CHUNK_WORDS = 60
NEUTRAL_PLACEHOLDERS = {
    "hotline": "tổng đài",
    "hotline_name": "tổng đài",
    "hotline_hours": "giờ làm việc",
    "province": "tỉnh",
}


@dataclass(frozen=True)
class Unit:
    """One searchable piece of a guide."""

    guide_id: str
    kind: str  # "title" | "question" | "summary" | "section"
    text: str
    section: int = -1  # index into guide.sections for kind == "section"


@dataclass
class Index:
    guides: dict[str, Guide]
    units: list[Unit]
    vectors: np.ndarray | None  # (len(units), dim) L2-normalised, memory-mapped; None without a model
    meta: dict
    path: Path
    dense: dense.DenseSearch | None = None  # the FAISS index over ``vectors``, what the searcher uses


def _chunks(text: str, max_words: int = CHUNK_WORDS) -> list[str]:
    """Split a section at line breaks into pieces of at most ``max_words`` words (a longer line
    stays whole)."""
    pieces, current, count = [], [], 0
    for line in text.split("\n"):
        words = len(line.split())
        if current and count + words > max_words:
            pieces.append("\n".join(current).strip())
            current, count = [], 0
        current.append(line)
        count += words
    if current and "\n".join(current).strip():
        pieces.append("\n".join(current).strip())
    return pieces


def units_for(guide: Guide) -> list[Unit]:
    if guide.kind != "guide":
        return [Unit(guide.id, "title", guide.title)] + [Unit(guide.id, "question", q) for q in guide.questions]
    units = [
        Unit(guide.id, "title", guide.title),
        Unit(guide.id, "summary", render(guide.summary, NEUTRAL_PLACEHOLDERS)),
    ]
    units += [Unit(guide.id, "question", q) for q in guide.questions]
    for number, section in enumerate(guide.sections):
        for piece in _chunks(section.text):
            text = render(f"{guide.title}. {section.heading}. {piece}", NEUTRAL_PLACEHOLDERS)
            units.append(Unit(guide.id, "section", text, number))
    return units


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _slug(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", model_id)[-80:]


def _guide_to_json(guide: Guide) -> dict:
    return dataclasses.asdict(guide)


def _guide_from_json(data: dict) -> Guide:
    sections = [Section(**s) for s in data.pop("sections")]
    return Guide(sections=sections, **data)


class EmbeddingCache:
    """Vectors keyed by sha1 of the text, one file per model."""

    def __init__(self, folder: Path, model_id: str):
        self.path = folder / f"{_slug(model_id)}.npz"
        self.vectors: dict[str, np.ndarray] = {}
        if self.path.exists():
            try:
                with np.load(self.path) as data:
                    self.vectors = dict(zip(data["keys"].tolist(), data["vectors"]))
            except (OSError, ValueError, KeyError):
                self.vectors = {}

    def lookup(self, texts: list[str], encode) -> tuple[np.ndarray, int]:
        """Vectors of ``texts`` (one row each), embedding with ``encode`` only the texts not cached yet
        and saving the cache when some were. Returns (vectors, how many distinct texts were embedded)."""
        keys = [_sha1(t) for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts) if k not in self.vectors}.items())
        if missing:
            for (key, _), vector in zip(missing, encode([t for _, t in missing])):
                self.vectors[key] = vector
            self.save()
        return np.stack([self.vectors[k] for k in keys]).astype(np.float32), len(missing)

    def save(self) -> None:
        """Write every vector, old ones included: a build of a subset of the guides (a preview, a
        test folder) must not evict the rest. The file grows only as texts change (~3 KB each)."""
        keys = sorted(self.vectors)
        if not keys:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=np.stack([self.vectors[k] for k in keys]))
        os.replace(tmp, self.path)


def content_hash(guides: list[Guide], model_id: str) -> str:
    digest = hashlib.sha256(f"v{FORMAT_VERSION}|{CHUNK_WORDS}|{model_id}".encode())
    for guide in sorted(guides, key=lambda g: g.id):
        content = {k: v for k, v in _guide_to_json(guide).items() if k != "path"}  # same guides, same hash
        digest.update(json.dumps(content, ensure_ascii=False, sort_keys=True).encode("utf-8"))
    return digest.hexdigest()[:16]


def build_index(
    knowledge_dir: Path, index_dir: Path, encoder: Encoder | None, progress: bool = False, log=print
) -> tuple[Path | None, list[GuideError]]:
    """Parse guides, embed what changed, write a new build and publish it.

    Returns (build path or None when nothing could be built, problems found). Broken guides are
    skipped and reported; if no guide at all is valid, nothing is published.
    """
    started = time.time()
    guides, problems = load_guides(knowledge_dir)
    for problem in problems:
        log(str(problem))
    if not guides:
        log("no valid guide: nothing published")
        return None, problems
    model_id = encoder.model_id if encoder else "none"
    # Units grouped by guide, guides sorted by id: the searcher relies on contiguous spans.
    units = [u for g in sorted(guides, key=lambda g: g.id) for u in units_for(g)]
    vectors = None
    reused = embedded = 0
    if encoder is not None:
        cache = EmbeddingCache(cache_root() / "embeddings", model_id)
        vectors, embedded = cache.lookup(
            [u.text for u in units], lambda texts: encoder.encode_documents(texts, progress=progress)
        )
        reused = len({_sha1(u.text) for u in units}) - embedded
    digest = content_hash(guides, model_id)
    current = current_build(index_dir)
    if current is not None and current.name.endswith(f"-{digest}") and (current / "meta.json").exists():
        log(f"index up to date ({current.name}): nothing published")
        return current, problems
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{digest}"
    builds = index_dir / "builds"
    target = builds / name
    tmp = builds / f".tmp-{name}-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT_VERSION,
        "model_id": model_id,
        "dimension": int(vectors.shape[1]) if vectors is not None else 0,
        "guides": sum(g.kind == "guide" for g in guides),
        "routes": sum(g.kind != "guide" for g in guides),
        "units": len(units),
        "content_hash": digest,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "embedded": embedded,
        "reused": reused,
        "build_seconds": round(time.time() - started, 2),
        "guide_ids": sorted(g.id for g in guides),
    }
    with (tmp / "units.jsonl").open("w", encoding="utf-8") as out:
        for unit in units:
            out.write(json.dumps(dataclasses.asdict(unit), ensure_ascii=False) + "\n")
    (tmp / "guides.json").write_text(
        json.dumps([_guide_to_json(g) for g in guides], ensure_ascii=False, indent=1), encoding="utf-8"
    )
    if vectors is not None:
        np.save(tmp / "dense.npy", vectors)
        faiss_started = time.time()
        faiss_index = dense.build(vectors)
        dense.save(faiss_index, tmp)
        meta["dense_index"] = dense.kind(faiss_index)
        meta["faiss_build_seconds"] = round(time.time() - faiss_started, 3)
    (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    publish(index_dir, name)
    log(
        f"published {name}: {meta['guides']} guides, {meta['routes']} routing entries, {len(units)} units, "
        f"embedded {embedded}, reused {reused}, "
        f"{meta['build_seconds']} s"
    )
    return target, problems


def publish(index_dir: Path, name: str) -> None:
    """Point CURRENT at a build atomically and prune old builds."""
    current = index_dir / "CURRENT"
    tmp = index_dir / f".CURRENT.{os.getpid()}"
    tmp.write_text(name + "\n", encoding="utf-8")
    os.replace(tmp, current)
    builds = sorted(
        (p for p in (index_dir / "builds").iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name
    )
    for old in builds[: max(0, len(builds) - KEEP_BUILDS - 1)]:
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)


def current_build(index_dir: Path) -> Path | None:
    try:
        name = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return index_dir / "builds" / name if name else None


def load_index(index_dir: Path, expected_model: str | None = None) -> Index:
    """Load the published build. Raises ``IndexLoadError`` with a clear message on any problem."""
    build = current_build(index_dir)
    if build is None:
        raise IndexLoadError(f"no published index in {index_dir}: run `make index`")
    try:
        meta = json.loads((build / "meta.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            raise IndexLoadError(f"index {build} has format {meta.get('format')}, expected {FORMAT_VERSION}")
        units = [Unit(**json.loads(line)) for line in (build / "units.jsonl").read_text(encoding="utf-8").splitlines()]
        guides = {g["id"]: _guide_from_json(g) for g in json.loads((build / "guides.json").read_text(encoding="utf-8"))}
        vectors = np.load(build / "dense.npy", mmap_mode="r") if (build / "dense.npy").exists() else None
        searcher = dense.DenseSearch(dense.load(build)) if vectors is not None else None
    except IndexLoadError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexLoadError(f"index {build} is unreadable: {exc}") from exc
    if vectors is not None and vectors.shape != (len(units), meta["dimension"]):
        raise IndexLoadError(f"index {build}: vectors {vectors.shape} do not match {len(units)} units")
    if searcher is not None and (searcher.size, searcher.index.d) != vectors.shape:
        raise IndexLoadError(
            f"index {build}: dense.faiss holds {searcher.size} vectors of {searcher.index.d} "
            f"dimensions, expected {vectors.shape}: run `make index`"
        )
    if expected_model is not None and meta["model_id"] not in ("none", expected_model):
        raise IndexLoadError(
            f"index {build} was built with model {meta['model_id']!r}, "
            f"but the configured model is {expected_model!r}: run `make index`"
        )
    return Index(guides=guides, units=units, vectors=vectors, meta=meta, path=build, dense=searcher)


class IndexLoadError(RuntimeError):
    pass


def main(argv: list[str] | None = None) -> int:
    """``python -m retrieval.index``: build and publish the index from the configured guides."""
    import argparse
    import logging

    from core.settings import load_settings
    from retrieval.encoders import load_encoder

    settings = load_settings()
    parser = argparse.ArgumentParser(description="Build and publish the knowledge search index")
    parser.add_argument("--knowledge", type=Path, default=settings.knowledge_dir)
    parser.add_argument("--index", type=Path, default=settings.index_dir)
    parser.add_argument("--model", default=settings.embedding_model)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    encoder = load_encoder(args.model)
    if encoder is None and args.model.lower() != "none":
        print(
            "WARNING: building WITHOUT dense vectors (embedding model unavailable): lexical search only",
            file=sys.stderr,
        )
    build, problems = build_index(args.knowledge, args.index, encoder, progress=True)
    errors = [p for p in problems if p.severity == "error"]
    if build is None:
        return 1
    return 2 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
