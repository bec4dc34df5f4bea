"""Request bodies: JSON reading, schema validation and the API's semantic checks.

The real API is a transcoded protobuf service: it accepts camelCase and snake_case names,
rejects unknown ones with ``Unknown name "x" at 'a.b'`` (the path in proto snake_case), and
reports semantic problems as ``* Request.path: reason`` bullets. Its JSON reader is also
lenient about single-quoted strings and trailing commas, which the curl examples of Google's
"Image understanding" guide rely on (``-d "{'file': {'display_name': 'x'}}"``, ``{"text":
"Caption this image."},]``), so ours is too.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from gemini_vision.api import wire
from gemini_vision.catalog import model_spec
from gemini_vision.emulator.server.rpc import ApiError

__all__ = ["parse_body", "read_json", "validate_generate_request"]

M = TypeVar("M", bound=BaseModel)

_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")
_DATA_FIELDS = (
    "text",
    "inline_data",
    "file_data",
    "function_call",
    "function_response",
    "executable_code",
    "code_execution_result",
)
_THINKING_LEVELS = {"MINIMAL", "LOW", "MEDIUM", "HIGH"}


def read_json(raw: bytes) -> Any:
    """Parses a request body; an empty body is ``{}``. Raises 400 on text that is not JSON."""
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as strict_error:
        try:
            return json.loads(_normalise_lenient_json(text))
        except json.JSONDecodeError:
            raise ApiError.invalid_payload(
                f"Invalid JSON payload received. {strict_error.msg}.", None
            ) from None


def _normalise_lenient_json(text: str) -> str:
    """Rewrites single-quoted strings as JSON strings and drops trailing commas."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in "\"'":
            j, chunk = i + 1, []
            while j < n and text[j] != char:
                if text[j] == "\\" and j + 1 < n:
                    escaped = text[j + 1]
                    chunk.append("'" if escaped == "'" else text[j : j + 2])
                    j += 2
                    continue
                chunk.append('\\"' if text[j] == '"' else text[j])
                j += 1
            out.append('"' + "".join(chunk) + '"')
            i = j + 1
        elif char == ",":
            rest = text[i + 1 :].lstrip()
            if not rest.startswith(("]", "}")):
                out.append(char)
            i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _snake(name: str) -> str:
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def _proto_path(loc: tuple[int | str, ...]) -> str:
    """``('contents', 0, 'parts', 1, 'inlineData')`` → ``contents[0].parts[1].inline_data``."""
    path = ""
    for item in loc:
        if isinstance(item, int):
            path += f"[{item}]"
        else:
            path += ("." if path else "") + _snake(item)
    return path


def _translate(error: ValidationError, root: str) -> ApiError:
    """The first pydantic error, told the way the API tells it."""
    first = error.errors()[0]
    loc = tuple(first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden":
        return ApiError.unknown_field(str(loc[-1]), _proto_path(loc[:-1]))
    path = _proto_path(loc)
    if kind == "missing":
        return ApiError.bullets(f"{root}.{path}: {path.rsplit('.', 1)[-1]} is not specified")
    value = json.dumps(first.get("input"), default=str)[:200]
    return ApiError.invalid_payload(f"Invalid value at '{path}', {value}", path)


def parse_body(cls: type[M], data: Any, root: str) -> M:
    """Validates JSON ``data`` as ``cls``; schema errors become the API's 400 bodies."""
    if not isinstance(data, dict):
        raise ApiError.invalid_payload(
            "Invalid JSON payload received. Expected an object at the top level.", None
        )
    try:
        return cls.model_validate(data)
    except ValidationError as error:
        raise _translate(error, root) from None


def validate_generate_request(
    request: wire.GenerateContentRequest, model: str, root: str = "GenerateContentRequest"
) -> None:
    """Raises the API's 400 for a request that is well-formed but not acceptable."""
    problems: list[str] = []
    if not request.contents:
        problems.append(f"{root}.contents: contents is not specified")
    for i, content in enumerate(request.contents):
        if content.role not in (None, "user", "model"):
            raise ApiError.invalid_argument("Please use a valid role: user, model.")
        if not content.parts:
            problems.append(f"{root}.contents[{i}].parts: contents.parts must not be empty.")
        for j, part in enumerate(content.parts):
            set_fields = [name for name in _DATA_FIELDS if getattr(part, name) is not None]
            if not set_fields:
                problems.append(
                    f"{root}.contents[{i}].parts[{j}].data: required oneof field 'data' must"
                    " have one initialized field"
                )
            elif len(set_fields) > 1:
                raise ApiError.invalid_payload(
                    "Invalid JSON payload received. Oneof field 'data' is already set."
                    f" Cannot set '{set_fields[1]}'",
                    f"contents[{i}].parts[{j}]",
                )
    problems += _generation_config_problems(request.generation_config, root)
    if problems:
        raise ApiError.bullets(*problems)
    _check_thinking(request.generation_config, model)


def _generation_config_problems(config: wire.GenerationConfig | None, root: str) -> list[str]:
    if config is None:
        return []
    problems = []
    path = f"{root}.generation_config"
    thinking = config.thinking_config
    if thinking and thinking.thinking_level is not None and thinking.thinking_budget is not None:
        problems.append(
            f"{path}.thinking_config: thinking_level and thinking_budget cannot both be set;"
            " use one of them."
        )
    level = thinking.thinking_level if thinking else None
    if level is not None and level.upper() not in _THINKING_LEVELS:
        problems.append(
            f'{path}.thinking_config.thinking_level: invalid value "{level}"; use one of'
            " MINIMAL, LOW, MEDIUM, HIGH."
        )
    if config.response_json_schema is not None:
        if config.response_schema is not None:
            problems.append(
                f"{path}.response_schema: response_schema and response_json_schema cannot both"
                " be set."
            )
        if not config.response_mime_type:
            problems.append(
                f"{path}.response_mime_type: response_mime_type must be set when"
                " response_json_schema is set."
            )
    return problems


def _check_thinking(config: wire.GenerationConfig | None, model: str) -> None:
    thinking = config.thinking_config if config else None
    if thinking is None:
        return
    spec = model_spec(model)
    budget = thinking.thinking_budget
    if budget is not None and budget != -1 and budget < spec.min_thinking_budget:
        if budget == 0:
            raise ApiError.invalid_argument(
                "Budget 0 is invalid. This model only works in thinking mode."
            )
        raise ApiError.invalid_argument(
            f"The thinking budget {budget} is invalid. Please choose a value between"
            f" {spec.min_thinking_budget} and 32768."
        )
    if thinking.thinking_level is not None and spec.thinking_control != "level":
        raise ApiError.invalid_argument("Thinking level is not supported for this model.")
