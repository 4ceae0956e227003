"""Reading data files and writing results for the command line.

Every problem with a file is an :class:`InputError` whose message names the
file and, where it applies, the row and column: the command line prints it
and exits with status 2.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Data", "InputError", "check_writable", "read_data", "write_array"]

READABLE = (".npy", ".npz", ".csv", ".tsv", ".txt", ".parquet")
WRITABLE = (".npy", ".csv", ".tsv", ".txt")


class InputError(ValueError):
    """A file the command line cannot read or write, and why."""


@dataclass
class Data:
    """A data file read: the values (rows are samples) and the column names
    (None where the file has none)."""

    values: np.ndarray
    columns: list[str] | None


def read_data(path: str | os.PathLike[str], columns: str | None = None) -> Data:
    """Read ``path`` (by its suffix: .npy memory-mapped, .npz, .csv/.tsv/.txt
    with or without a header line, .parquet with pyarrow) and keep the
    ``columns`` named (a comma-separated list of names, or of 0-based
    positions for files without names). Values that are not finite are an
    error naming the first one's row and column."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file.")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a data file.")
    suffix = path.suffix.lower()
    if suffix not in READABLE:
        raise InputError(
            f"{path}: unknown file type {suffix or '(none)'!r}; "
            f"readable: {', '.join(READABLE)}."
        )
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty.")
    if suffix == ".npy":
        data = Data(_load_npy(path), None)
    elif suffix == ".npz":
        data = Data(_load_npz(path), None)
    elif suffix == ".parquet":
        data = _read_parquet(path)
    else:
        data = _read_delimited(path, "\t" if suffix == ".tsv" else None)
    if columns is not None:
        data = _select(path, data, columns)
    _check_values(path, data)
    return data


def _load_npy(path: Path) -> np.ndarray:
    try:
        values = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable .npy file ({exc}).") from exc
    return values


def _load_npz(path: Path) -> np.ndarray:
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable .npz file ({exc}).") from exc
    with archive:
        names = list(archive.files)
        if "X" in names:
            return archive["X"]
        if len(names) != 1:
            raise InputError(
                f"{path}: holds {len(names)} arrays ({', '.join(names) or 'none'}); "
                "name the data array 'X' or store one array."
            )
        return archive[names[0]]


def _read_parquet(path: Path) -> Data:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InputError(
            f"{path}: reading .parquet needs pyarrow (pip install pyarrow)."
        ) from exc
    table = pq.read_table(path)
    names = [str(n) for n in table.column_names]
    columns = []
    for name, column in zip(names, table.columns, strict=True):
        values = column.to_numpy(zero_copy_only=False)
        if not np.issubdtype(values.dtype, np.number):
            raise InputError(
                f"{path}: column {name!r} is not numeric ({column.type}); "
                "choose numeric columns with --columns."
            )
        columns.append(np.asarray(values, dtype=np.float64))
    return Data(np.stack(columns, axis=1), names)


def _read_delimited(path: Path, delimiter: str | None) -> Data:
    """A CSV (commas, or what the first line shows) or TSV file; a first line
    with a cell that is not a number is the header."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        text = f.read()
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError(f"{path}: the file holds no rows.")
    if delimiter is None:
        first = lines[0]
        delimiter = max([",", ";", "\t", " "], key=first.count)
        if first.count(delimiter) == 0:
            delimiter = ","
    rows = list(csv.reader(lines, delimiter=delimiter, skipinitialspace=True))
    names = None
    if any(not _is_number(cell) for cell in rows[0]):
        names = [cell.strip() for cell in rows[0]]
        rows = rows[1:]
        if not rows:
            raise InputError(f"{path}: a header line and no data rows.")
    width = len(names) if names is not None else len(rows[0])
    values = np.empty((len(rows), width), dtype=np.float64)
    offset = 2 if names is not None else 1
    for i, row in enumerate(rows):
        if len(row) != width:
            raise InputError(
                f"{path}: line {i + offset} has {len(row)} fields, expected {width}."
            )
        for j, cell in enumerate(row):
            try:
                values[i, j] = float(cell)
            except ValueError:
                column = names[j] if names is not None else str(j)
                raise InputError(
                    f"{path}: line {i + offset}, column {column!r}: {cell!r} is "
                    "not a number (an empty field is a missing value)."
                ) from None
    return Data(values, names)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _select(path: Path, data: Data, columns: str) -> Data:
    """The ``columns`` asked for (names, or positions where there are none)."""
    wanted = [c.strip() for c in columns.split(",") if c.strip()]
    if not wanted:
        raise InputError("--columns: no column named.")
    if data.values.ndim != 2:
        raise InputError(f"--columns: {path} holds a {data.values.ndim}-D array.")
    index = []
    for name in wanted:
        if data.columns is not None and name in data.columns:
            index.append(data.columns.index(name))
        elif (
            name.lstrip("-").isdigit()
            and -data.values.shape[1] <= int(name) < (data.values.shape[1])
        ):
            index.append(int(name) % data.values.shape[1])
        else:
            have = (
                ", ".join(data.columns)
                if data.columns is not None
                else f"positions 0 to {data.values.shape[1] - 1}"
            )
            raise InputError(f"--columns: {path} has no column {name!r} ({have}).")
    names = None if data.columns is None else [data.columns[i] for i in index]
    return Data(np.asarray(data.values[:, index]), names)


def _check_values(path: Path, data: Data) -> None:
    values = data.values
    if values.ndim not in (2, 3):
        raise InputError(
            f"{path}: expected a 2-D array (rows are samples), got shape "
            f"{values.shape}."
        )
    if values.dtype.kind not in "fiub":
        raise InputError(f"{path}: values of type {values.dtype} are not numbers.")
    if 0 in values.shape:
        raise InputError(f"{path}: no data (shape {values.shape}).")
    if values.dtype.kind == "f":
        bad = np.argwhere(~np.isfinite(values))
        if bad.size:
            where = tuple(int(i) for i in bad[0])
            row, col = where[-2], where[-1]
            column = data.columns[col] if data.columns is not None else str(col)
            problem = "" if values.ndim == 2 else f"problem {where[0]}, "
            raise InputError(
                f"{path}: {problem}row {row}, column {column!r} is "
                f"{values[where]} (counted from 0; every value must be finite, "
                f"{len(bad)} are not)."
            )


def check_writable(paths: list[str | None], force: bool) -> None:
    """Refuse, before any work, outputs that exist (without ``force``), whose
    folder does not exist, or of a type that cannot be written."""
    for p in paths:
        if p is None:
            continue
        path = Path(p)
        if path.exists() and not force:
            raise InputError(f"{path}: exists; pass --force to overwrite it.")
        if not path.parent.exists():
            raise InputError(f"{path}: the folder {path.parent} does not exist.")


def write_array(
    path: str | os.PathLike[str], values: Any, header: list[str] | None = None
) -> None:
    """``values`` to ``path``: .npy, or text (.csv comma-, .tsv tab-separated,
    with a header line of ``header`` where given)."""
    path = Path(path)
    suffix = path.suffix.lower()
    values = np.asarray(values)
    if suffix == ".npy":
        np.save(path, values)
        return
    if suffix not in WRITABLE:
        raise InputError(
            f"{path}: cannot write {suffix or '(no suffix)'!r} files; "
            f"writable: {', '.join(WRITABLE)}."
        )
    delimiter = "\t" if suffix == ".tsv" else ","
    fmt = "%d" if values.dtype.kind in "iub" else "%.17g"
    np.savetxt(
        path, values, fmt=fmt, delimiter=delimiter, comments="",
        header="" if header is None else delimiter.join(header),
    )  # fmt: skip
