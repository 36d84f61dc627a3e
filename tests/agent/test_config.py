"""Every config key is documented in config.example.toml, and the example loads."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from agent.config import Config, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def _model_of(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):  # list[DatasetEntry], X | None
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def config_keys(model: type[BaseModel] = Config, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        sub = _model_of(field.annotation)
        if sub is not None:
            keys |= config_keys(sub, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def documented_keys(text: str) -> set[str]:
    """``section.key`` for each ``key = …`` line, commented out (``# key = …``) or not."""
    keys: set[str] = set()
    section = ""
    for line in text.splitlines():
        header = re.match(r"^\s*#?\s*\[\[?([\w.]+)\]\]?\s*$", line)
        if header:
            section = header.group(1) + "."
            continue
        assignment = re.match(r"^\s*#?\s*([A-Za-z_]\w*)\s*=", line)
        if assignment:
            keys.add(section + assignment.group(1))
    return keys


def test_every_config_key_is_documented() -> None:
    expected = config_keys()
    assert "node.language" in expected and "datasets.id" in expected and "log.file" in expected
    missing = expected - documented_keys(EXAMPLE.read_text(encoding="utf-8"))
    assert not missing, f"undocumented in config.example.toml: {sorted(missing)}"


def test_the_checker_catches_an_undocumented_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace("max_body_mb", "max_body")
    assert "lan.max_body_mb" not in documented_keys(text)
    assert "cloud.url" in documented_keys(text)  # "# url = …" counts


def test_example_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.node.language in ("vi", "en")
    assert config.dataset_ids
    assert config.data_dir.is_absolute()
