"""The ``models`` resources: what ``models.get`` and ``models.list`` describe."""

from __future__ import annotations

from pydantic import Field

from gemini_vision.api.wire.base import ResponseModel

__all__ = ["ListModelsResponse", "ModelInfo"]


class ModelInfo(ResponseModel):
    """A ``models/{id}`` resource."""

    name: str
    base_model_id: str | None = None
    version: str | None = None
    display_name: str | None = None
    description: str | None = None
    input_token_limit: int | None = None
    output_token_limit: int | None = None
    supported_generation_methods: list[str] = Field(default_factory=list)
    temperature: float | None = None
    max_temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    thinking: bool | None = None

    @property
    def model_id(self) -> str:
        return self.name.removeprefix("models/")


class ListModelsResponse(ResponseModel):
    models: list[ModelInfo] = Field(default_factory=list)
    next_page_token: str | None = None
