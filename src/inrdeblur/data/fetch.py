"""Fetch one registry entry: a dataset into ``data/raw/<name>/``, weights into the torch cache.

:func:`fetch_entry` is what ``inrdeblur fetch`` and the pipeline's ``fetch`` rule run.
It turns a registry entry (:mod:`inrdeblur.data.registry`) into the transfers of
:mod:`inrdeblur.data.download`:

- a dataset whose files have download addresses (Levin, Kodak) is fetched from them, or
  from ``mirror`` (a folder, ``file://`` or ``http(s)://`` base URL);
- a dataset the registry cannot download (no file list or no URL: Lai, VirtualCMB,
  RealCMB, GoPro) is copied from a local ``mirror`` folder, or a copy the user placed in
  ``data/raw/<name>/`` is adopted; either is verified against an earlier record or its own
  ``SHA256SUMS``, and otherwise its hashes are measured and recorded;
- a folder of the user's own (photos) is refused: nothing is fetched or written there;
- weights (the LPIPS AlexNet backbone) go to ``$TORCH_HOME/hub/checkpoints/``, verified by
  the sha256 prefix in their name or a recorded full hash.

Hashes the registry does not know are recorded in ``data/raw/<name>.checksums.json``; a
dataset's reader folder gets a ``SHA256SUMS`` listing the verified hashes, which the
prepare stage's ``verify`` reads.
"""

from __future__ import annotations

import logging
from pathlib import Path

from inrdeblur.data.registry import USER_FOLDERS, entry
from inrdeblur.fileio import InputFileError

log = logging.getLogger(__name__)


def fetch_entry(
    name: str, raw_dir: str | Path = "data/raw", mirror: str | None = None, progress: bool = True
) -> None:
    """Fetch registry entry ``name`` (module docstring); errors name the URL or path."""
    spec = entry(name)
    if spec.get("kind") == "weights":
        fetch_weights_entry(name, spec, Path(raw_dir), mirror, progress)
    else:
        fetch_dataset_entry(name, spec, Path(raw_dir), mirror, progress)


def fetch_dataset_entry(
    name: str, spec: dict, raw_dir: Path, mirror: str | None, progress: bool
) -> None:
    """Fetch dataset ``name`` into ``raw_dir/name`` and write its reader's ``SHA256SUMS``.

    Registry files are fetched from their URLs or ``mirror`` (verified where the registry
    has hashes). Without a list of downloadable files (``files: []``, or a file without
    a URL), every file of a local ``mirror`` folder is copied, or a copy placed by hand
    in ``raw_dir/name`` is adopted; each file is verified against an earlier record or
    a ``SHA256SUMS`` it carries, and a copy fetched before against its stamp. Unknown
    hashes are measured and recorded in ``raw_dir/<name>.checksums.json``. Afterwards
    ``SHA256SUMS`` in the reader's root lists every fetched file there with its verified
    hash, for the prepare stage.
    """
    from inrdeblur.data.download import STAMP_FILE, FetchError, fetch_dataset
    from inrdeblur.data.registry import reader_root
    from inrdeblur.fileio import read_json

    files = spec.get("files") or []
    folder = raw_dir / name
    if name in USER_FOLDERS:  # nothing to download, and no checksums in the user's folder
        raise FetchError(
            f"dataset {name!r} is a folder of your own, not downloaded: there is nothing to "
            f"fetch. Put the files in {folder} or set datasets.{name}.root to their folder."
        )
    if not files and not spec.get("layout"):
        raise FetchError(
            f"dataset {name!r} is generated, not downloaded: there is nothing to fetch. "
            f"{' '.join(str(spec.get('notes') or '').split())}"
        )
    placed = folder.is_dir() and any(folder.iterdir())
    root = reader_root(name, folder)
    if files and (mirror or all(item.get("url") for item in files)):
        pass  # the registry's files, from their URLs or the mirror
    elif placed and not mirror and (folder / STAMP_FILE).is_file():
        spec = {"files": read_json(folder / STAMP_FILE)["items"]}  # verify what was fetched
    elif mirror or placed:
        source = _local_folder(mirror) if mirror else folder
        spec = {"files": _listed_files(name, source, root.relative_to(folder))}
    else:
        raise FetchError(_how_to_get(name, spec, folder))
    unknown = any(len(str(item.get("sha256") or "")) != 64 for item in spec["files"])
    record = raw_dir / f"{name}.checksums.json" if unknown else None
    fetch_dataset(spec, raw_dir, name=name, mirror=mirror, record=record, progress=progress)
    _write_sha256sums(folder, root)
    log.info("%s: fetched and verified", folder)


def _how_to_get(name: str, spec: dict, folder: Path) -> str:
    """Why ``name`` cannot be downloaded, and the ways to provide it by hand."""
    missing = [item["path"] for item in spec.get("files") or [] if not item.get("url")]
    why = (
        f"the registry has no download address for {', '.join(missing)}"
        if missing
        else "the registry lists none of its files"
    )
    notes = " ".join(str(spec.get("notes") or "").split())
    return (
        f"dataset {name!r} cannot be downloaded: {why}. Get it by hand from "
        f"{spec.get('homepage') or 'its publisher'}. {notes}\nThen either give a mirror "
        f"(--mirror <folder or URL>, or datasets.{name}.mirror in params.yaml) holding "
        f"the files; or put them into {folder}/ and fetch again to verify and record them; "
        f"or set datasets.{name}.root in params.yaml to your local copy (nothing is "
        f"fetched then)."
    )


def _local_folder(mirror: str) -> Path:
    """The folder of a mirror given as a path or ``file://`` URL (listable)."""
    import urllib.parse
    import urllib.request

    from inrdeblur.data.download import FetchError

    parts = urllib.parse.urlsplit(mirror)
    if parts.scheme in ("http", "https"):
        raise FetchError(
            f"{mirror}: an http(s) mirror cannot be listed, and the registry lists no files "
            f"of this dataset; give a local folder or file:// URL"
        )
    if parts.scheme == "file":
        folder = Path(urllib.request.url2pathname(parts.path))
    else:
        folder = Path(mirror)
    if not folder.is_dir():
        raise FetchError(f"{mirror}: mirror folder not found")
    return folder


def _listed_files(name: str, source: Path, root: Path) -> list[dict]:
    """Registry-style items for every file under ``source`` (sha256 from its SHA256SUMS).

    ``root`` is the reader's root relative to the dataset folder; a ``SHA256SUMS`` there
    gives the expected hashes and is not itself an item (it is written after the fetch).
    """
    from inrdeblur.data.download import STAMP_FILE, FetchError
    from inrdeblur.data.levin import CHECKSUM_FILE, read_checksums

    prefix = "" if root == Path(".") else root.as_posix() + "/"
    sums = source / root / CHECKSUM_FILE
    known = {}
    if sums.is_file():
        known = {prefix + rel: digest for rel, digest in read_checksums(sums.parent).items()}
    skip = {STAMP_FILE, prefix + CHECKSUM_FILE}
    paths = sorted(
        path.relative_to(source).as_posix()
        for path in source.rglob("*")
        if path.is_file() and not path.name.endswith(".part")
    )
    items = [{"path": rel, "sha256": known.get(rel, "")} for rel in paths if rel not in skip]
    if not items:
        raise FetchError(f"{source}: holds no files of dataset {name!r}")
    return items


def _write_sha256sums(folder: Path, root: Path) -> None:
    """Write ``root/SHA256SUMS`` from the fetch stamp's verified hashes, if they differ."""
    from inrdeblur.data.download import STAMP_FILE
    from inrdeblur.data.levin import CHECKSUM_FILE, read_checksums
    from inrdeblur.fileio import read_json, write_text

    prefix = "" if root == folder else root.relative_to(folder).as_posix() + "/"
    entries = {
        rel.removeprefix(prefix): info["sha256"]
        for rel, info in read_json(folder / STAMP_FILE)["files"].items()
        if rel.startswith(prefix) and rel != prefix + CHECKSUM_FILE
    }
    if not entries:
        return
    sums = root / CHECKSUM_FILE
    if sums.is_file():
        try:
            if read_checksums(root) == entries:
                return
        except InputFileError:
            pass  # replaced below
    write_text(sums, "".join(f"{digest}  {rel}\n" for rel, digest in sorted(entries.items())))
    log.info("wrote %s (%d files)", sums, len(entries))


def fetch_weights_entry(
    name: str, spec: dict, raw_dir: Path, mirror: str | None, progress: bool
) -> None:
    """Fetch a network file into the torch hub cache, where torch and LPIPS look for it.

    The target is ``$TORCH_HOME/hub/<layout.weights>`` (``TORCH_HOME`` defaulting as in
    torch). It is verified by the registry's sha256, else by the recorded full hash of an
    earlier fetch, else by the ``sha256_prefix`` in its name; a full hash measured here is
    recorded in ``raw_dir/<name>.checksums.json``. On failure nothing is left in the cache.
    """
    import urllib.parse

    from inrdeblur.data.download import FetchError, download, torch_hub_dir
    from inrdeblur.fileio import read_json, write_json

    files = spec.get("files") or []
    if len(files) != 1:
        raise FetchError(f"weights {name!r}: the registry entry must list exactly one file")
    item = files[0]
    rel = str(item["path"])
    dest = torch_hub_dir() / str((spec.get("layout") or {}).get("weights") or f"checkpoints/{rel}")
    record_path = raw_dir / f"{name}.checksums.json"
    record = read_json(record_path) if record_path.is_file() else {}
    prefix = str(item.get("sha256") or item.get("sha256_prefix") or "")
    recorded = str((record.get(rel) or {}).get("sha256") or "")
    expected = recorded if len(prefix) < 64 and recorded.startswith(prefix) else prefix
    if mirror:
        if urllib.parse.urlsplit(mirror).scheme in ("http", "https", "file"):
            source: str | Path = f"{mirror.rstrip('/')}/{urllib.parse.quote(rel)}"
        elif Path(mirror).is_dir():
            source = Path(mirror) / rel
        else:
            raise FetchError(f"{mirror}: mirror folder not found")
    elif item.get("url"):
        source = str(item["url"])
    else:
        raise FetchError(_how_to_get(name, spec, dest.parent))
    created = [folder for folder in (dest.parent, *dest.parent.parents) if not folder.exists()]
    try:
        digest = download(source, dest, sha256=expected or None, size=item.get("size"),
                          progress=progress)  # fmt: skip
    except BaseException:
        for folder in created:  # deepest first
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise
    if len(str(item.get("sha256") or "")) != 64 and recorded != digest:
        write_json(record_path, {**record, rel: {"sha256": digest, "size": dest.stat().st_size}})
    log.info("%s: fetched and verified (sha256 %s)", dest, digest)
