"""Demographic labels for LFW, for evaluation only: the product never infers these attributes.

Gender: the manually verified lists of Afifi & Abdelhamed (per image; images on both lists are left out).
Race: the MICA labels (per identity, 866 identities; mixed labels are kept as "mixed")."""

from __future__ import annotations

import json
from pathlib import Path

from faceledger.errors import NotFound
from faceledger.eval.lfw import LfwImage


def gender_labels(data_dir: Path) -> dict[LfwImage, str]:
    folder = data_dir / "lfw_labels"
    lists = {"male": folder / "male_names.txt", "female": folder / "female_names.txt"}
    seen: dict[LfwImage, set[str]] = {}
    for label, path in lists.items():
        if not path.is_file():
            raise NotFound(f"{path}: gender labels not found")
        for line in path.read_text().splitlines():
            name = line.strip()
            if name.endswith(".jpg"):
                person, number = name[:-4].rsplit("_", 1)
                seen.setdefault(LfwImage(person, int(number)), set()).add(label)
    return {image: labels.pop() for image, labels in seen.items() if len(labels) == 1}


def race_labels(data_dir: Path) -> dict[str, str]:
    path = data_dir / "lfw_labels" / "lfw_race_dict.json"
    if not path.is_file():
        raise NotFound(f"{path}: race labels not found")
    raw: dict[str, str] = json.loads(path.read_text())
    return {person: ("mixed" if "," in label else label) for person, label in raw.items()}
