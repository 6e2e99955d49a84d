"""A Helm-style values file in the IaC repository: where it may be, and setting one key."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .base import DeployFailed


def resolve_values_path(root: Path, relative: str) -> Path:
    """The real location of `relative` inside `root` (itself already resolved).

    Symlinks are followed before the check, so a link that points outside is caught as
    well as `..` and absolute paths. The repository's `.git` is out of bounds too: a file
    written there could be a hook that git would run.

    Raises:
        DeployFailed: the path is absolute, leaves `root`, enters `.git`, or is not a file.
    """
    if not relative or Path(relative).is_absolute():
        raise DeployFailed(
            f"values path {relative!r} is not relative to the repository {root}; "
            "refusing to write it (fix `values_path`)"
        )
    target = Path(os.path.realpath(root / relative))
    if target == root or not target.is_relative_to(root):
        raise DeployFailed(
            f"values path {relative!r} resolves to {target}, outside the repository {root}; "
            "refusing to write it (fix `values_path` or the symlink)"
        )
    if any(part.lower() == ".git" for part in target.relative_to(root).parts):
        raise DeployFailed(
            f"values path {relative!r} is inside the repository's .git directory; "
            "refusing to write it (fix `values_path`)"
        )
    if target.exists() and not target.is_file():
        raise DeployFailed(f"values path {relative!r} in {root} exists but is not a file")
    return target


def read_original(target: Path) -> bytes | None:
    """The file's bytes now (`None`: it does not exist), to put back if the run fails."""
    try:
        return target.read_bytes()
    except FileNotFoundError:
        return None


def set_version(target: Path, key: str, version: str, original: bytes | None) -> bool:
    """Set the dotted `key` (e.g. `image.tag`) to `version` in the YAML file `target`.

    Missing mappings along the key, the file and its folders are created; every other key
    keeps its value and order. (Comments are not kept: PyYAML does not read them.)

    Returns:
        Whether the file changed (`False`: it already held `version` there).

    Raises:
        DeployFailed: the file is not YAML, not a mapping, or a key on the way holds a value.
    """
    data = _load(target, original)
    parts = key.split(".")
    node = data
    for depth, part in enumerate(parts[:-1], start=1):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parts[:depth])
            raise DeployFailed(
                f"cannot set {key} in {target}: {where} holds a {type(child).__name__}, "
                "not a mapping"
            )
        node = child
    if node.get(parts[-1]) == version:
        return False
    node[parts[-1]] = version
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
    write_atomically(target, text.encode())
    return True


def _load(target: Path, original: bytes | None) -> dict[Any, Any]:
    if original is None:
        return {}
    try:
        data = yaml.safe_load(original)
    except yaml.YAMLError as exc:
        raise DeployFailed(f"{target} is not valid YAML ({exc}); fix it in the repository") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DeployFailed(f"{target} holds a YAML {type(data).__name__}, not a mapping")
    return data


def restore(target: Path, original: bytes | None) -> None:
    """Put the file back as `read_original` found it."""
    if original is None:
        target.unlink(missing_ok=True)
    else:
        write_atomically(target, original)


def write_atomically(target: Path, content: bytes) -> None:
    """Replace `target` with `content` so that readers see the old file or the new one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
        if target.exists():
            os.chmod(temporary, target.stat().st_mode & 0o7777)
        else:
            os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
