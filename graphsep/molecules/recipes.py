"""Dataset recipes: small YAML files that say how to build an OGB ``ogbg-mol*`` set from a table.

Recipes live in ``<repo>/datasets/`` (a folder of YAML, never a Python package: a package named
``datasets`` would shadow HuggingFace's) and, in an installed wheel, in ``graphsep/_recipes``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from graphsep.molecules.table import DataError

TASK_TYPES = ("classification", "regression")
METRICS = ("rocauc", "ap", "rmse")
SPLIT_RULES = ("scaffold", "random")

_CHECKOUT = Path(__file__).resolve().parents[2]
RECIPE_DIRS = (_CHECKOUT / "datasets", Path(__file__).resolve().parents[1] / "_recipes")
"""Where recipes are looked up by name: a source checkout's ``datasets/``, then the package
data (``graphsep/_recipes``, a link to ``datasets/`` that a wheel carries as files)."""


@dataclass(frozen=True)
class Recipe:
    """How to build one OGB dataset from a SMILES table; the fields are the YAML keys.

    Args:
        name (str): OGB name, e.g. ``"ogbg-molhiv"``.
        source (str | None): file name of the table, resolved against a source directory;
            None for a download-only dataset (ogbg-molpcba).
        task_type (str): ``"classification"`` (binary, per task) or ``"regression"``.
        metric (str): OGB's evaluation metric: ``"rocauc"``, ``"ap"`` or ``"rmse"``.
        smiles_column (str): column holding the SMILES. (default: ``"smiles"``)
        label_columns (list[str] | None): label columns in OGB's task order; None takes every
            column but the SMILES column, in table order. (default: None)
        split (str): ``"scaffold"`` or ``"random"``. (default: ``"scaffold"``)
        split_sizes (list[int] | None): OGB's train/valid/test sizes, None when not published.
            (default: None)
        drop_rows (list[int]): 0-based data rows OGB left out (the reason goes in ``notes``).
            (default: ``[]``)
        notes (str): provenance and every difference from the table. (default: ``""``)
    """

    name: str
    source: str | None
    task_type: str
    metric: str
    smiles_column: str = "smiles"
    label_columns: list[str] | None = None
    split: str = "scaffold"
    split_sizes: list[int] | None = None
    drop_rows: list[int] = field(default_factory=list)
    notes: str = ""


_KEYS = [f.name for f in fields(Recipe)]
_REQUIRED = ("name", "source", "task_type", "metric")
_CHOICES = {"task_type": TASK_TYPES, "metric": METRICS, "split": SPLIT_RULES}
_LISTS = {"label_columns": str, "split_sizes": int, "drop_rows": int}
_STRINGS = ("name", "source", "smiles_column", "notes")
_NULLABLE = ("source", "label_columns", "split_sizes")


def _recipe_files() -> dict[str, Path]:
    """Recipe name (file stem) to file; the checkout's ``datasets/`` wins over package data."""
    found: dict[str, Path] = {}
    # Installed, parents[2] is site-packages, whose "datasets" may be HuggingFace's package.
    folders = RECIPE_DIRS if (_CHECKOUT / "pyproject.toml").is_file() else RECIPE_DIRS[1:]
    for folder in reversed(folders):
        found.update({p.stem: p for p in sorted(folder.glob("*.yaml"))})
    return found


def list_recipes() -> list[Recipe]:
    """Every known recipe, sorted by name.

    Returns:
        list[Recipe]: one per YAML file found in :data:`RECIPE_DIRS`.
    """
    return [read_recipe(path) for _, path in sorted(_recipe_files().items())]


def find_recipe(name: str) -> Recipe | None:
    """Find the recipe of a dataset name; None for a name without one (a user's own table).

    Args:
        name (str): dataset name, e.g. ``"ogbg-molbbbp"``.

    Returns:
        Recipe | None: the recipe, if a ``<name>.yaml`` exists.
    """
    path = _recipe_files().get(name)
    return None if path is None else read_recipe(path)


def load_recipe(name_or_path: str | Path) -> Recipe:
    """Load a recipe by dataset name or from a YAML file.

    Args:
        name_or_path (str | Path): a name such as ``"ogbg-molhiv"``, or a path to a YAML file.

    Returns:
        Recipe: the validated recipe.

    Raises:
        DataError: unknown name (with the closest known names), or an invalid recipe file.
    """
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return read_recipe(path)
    recipe = find_recipe(str(name_or_path))
    if recipe is None:
        known = sorted(_recipe_files())
        hint = _did_you_mean(str(name_or_path), known)
        raise DataError(f"no recipe named '{name_or_path}'{hint}; known: {', '.join(known)}")
    return recipe


def read_recipe(path: str | Path) -> Recipe:
    """Read and validate one recipe file.

    Args:
        path (str | Path): the YAML file.

    Returns:
        Recipe: the recipe.

    Raises:
        DataError: missing or unreadable file, unknown or missing key, or a bad value; the
            message names the file and the key.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise DataError(f"cannot read recipe {path}: {err}") from None
    if not isinstance(raw, dict):
        raise DataError(f"recipe {path} is not a mapping of keys to values")
    _validate(path, raw)
    return Recipe(**raw)


def _validate(path: Path, raw: dict) -> None:
    """Raise on the first unknown or missing key or bad value, naming the file and the key."""
    for key in raw:
        if key not in _KEYS:
            raise DataError(
                f"recipe {path}: unknown key '{key}'{_did_you_mean(str(key), _KEYS)}; "
                f"valid keys: {', '.join(_KEYS)}"
            )
    for key in _REQUIRED:
        if key not in raw:
            raise DataError(f"recipe {path}: missing key '{key}'")
    for key, value in raw.items():
        if value is None and key not in _NULLABLE:
            raise DataError(f"recipe {path}: {key} cannot be null")
        if key in _CHOICES and value not in _CHOICES[key]:
            raise DataError(f"recipe {path}: {key} '{value}' is not one of {_CHOICES[key]}")
        if key in _STRINGS and value is not None and not isinstance(value, str):
            raise DataError(f"recipe {path}: {key} must be a string")
        if (
            key in _LISTS
            and value is not None
            and not (isinstance(value, list) and all(isinstance(v, _LISTS[key]) for v in value))
        ):
            raise DataError(f"recipe {path}: {key} must be a list of {_LISTS[key].__name__}")
    if raw.get("split_sizes") is not None and len(raw["split_sizes"]) != 3:
        raise DataError(f"recipe {path}: split_sizes must be [train, valid, test]")


def _did_you_mean(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
