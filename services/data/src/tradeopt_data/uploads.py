"""Multipart uploads streamed to a local temporary file before anything is validated or stored.

Starlette's multipart parser spools each file part to disk past 1 MiB; this module copies it
into a private temporary file while hashing it, checks the form fields, and removes every
temporary file when the request ends (accepted or not).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from tradeopt_common.errors import BadRequest, ValidationFailed
from tradeopt_data.config import DataSettings
from tradeopt_data.schemas import SYMBOL_PATTERN
from tradeopt_data.service import StagedUpload

REPAIRS: tuple[str, ...] = ("sort", "drop_duplicates", "ffill")
TIMEFRAMES: tuple[str, ...] = ("1d", "1h", "30min", "15min", "5min", "1min", "1wk")
_FIELDS = {"file", "name", "symbol", "timeframe", "repair"}
_CHUNK = 1024 * 1024


def _error(field: str, msg: str) -> dict[str, Any]:
    return {"loc": ["body", field], "msg": msg, "type": "value_error"}


def _text_field(form: Any, name: str) -> str | None:
    values = form.getlist(name)
    if not values:
        return None
    if len(values) > 1 or not isinstance(values[0], str):
        raise ValidationFailed(f"'{name}' must be one text field", errors=[_error(name, "invalid")])
    value = values[0].strip()
    if "\x00" in value:
        raise ValidationFailed(f"'{name}' must not contain NUL", errors=[_error(name, "NUL")])
    return value or None


def _repairs(form: Any) -> list[str]:
    chosen: list[str] = []
    for raw in form.getlist("repair"):
        if not isinstance(raw, str):
            raise ValidationFailed("'repair' must be text", errors=[_error("repair", "invalid")])
        for item in (p.strip() for p in raw.split(",")):
            if not item:
                continue
            if item not in REPAIRS:
                raise ValidationFailed(
                    f"unknown repair {item!r}; choose from {', '.join(REPAIRS)}",
                    errors=[_error("repair", f"unknown repair {item!r}")],
                )
            if item not in chosen:
                chosen.append(item)
    return chosen


def _copy(source: UploadFile, target: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    source.file.seek(0)
    with target.open("wb") as out:
        while chunk := source.file.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


@asynccontextmanager
async def staged_upload(request: Request, settings: DataSettings) -> AsyncIterator[StagedUpload]:
    """Parse the multipart form and stage its file; 400/422 for a malformed or incomplete form."""
    try:
        form = await request.form(max_files=1, max_fields=len(_FIELDS) + 4)
    except MultiPartException as exc:
        raise BadRequest(f"malformed multipart body: {exc.message}") from exc
    tmpdir = Path(tempfile.mkdtemp(prefix="tradeopt-upload-"))
    try:
        unknown = sorted(set(form.keys()) - _FIELDS)
        if unknown:
            raise ValidationFailed(
                f"unknown form field(s): {', '.join(unknown)}",
                errors=[_error(k, "unknown field") for k in unknown],
            )
        files = form.getlist("file")
        if len(files) != 1 or not isinstance(files[0], UploadFile):
            raise ValidationFailed(
                "send exactly one CSV or Parquet file in the 'file' field",
                errors=[_error("file", "field required (one file)")],
            )
        part: UploadFile = files[0]
        symbol = _text_field(form, "symbol")
        if symbol is not None and not re.fullmatch(SYMBOL_PATTERN, symbol):
            raise ValidationFailed(
                f"invalid symbol {symbol!r}", errors=[_error("symbol", "invalid symbol")]
            )
        name = _text_field(form, "name")
        if name is not None and len(name) > 200:
            raise ValidationFailed("'name' is too long", errors=[_error("name", "max 200")])
        timeframe = _text_field(form, "timeframe") or "1d"
        if timeframe not in TIMEFRAMES:
            raise ValidationFailed(
                f"unknown timeframe {timeframe!r}; choose from {', '.join(TIMEFRAMES)}",
                errors=[_error("timeframe", "unknown timeframe")],
            )
        repairs = _repairs(form)
        path = tmpdir / "upload.bin"
        size, sha256 = await asyncio.to_thread(_copy, part, path)
        filename = Path(part.filename).name[:200] if part.filename else None
        yield StagedUpload(
            path=path,
            size=size,
            sha256=sha256,
            filename=filename,
            content_type=part.content_type,
            symbol=symbol,
            name=name,
            timeframe=timeframe,
            repairs=repairs,
        )
    finally:
        await form.close()
        shutil.rmtree(tmpdir, ignore_errors=True)
