"""generateContent, countTokens, models, batches and answer_text, over httpx.MockTransport."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from support.fakes import BASE, KEY, Script, answer, make_async_client, make_client

from gemini_vision import errors
from gemini_vision.api import wire
from gemini_vision.api.client import AsyncGeminiClient, GeminiClient, answer_text, model_path

REQUEST = wire.GenerateContentRequest(
    contents=[
        wire.Content(
            role="user",
            parts=[wire.Part.from_bytes(b"\x89PNG", "image/png"), wire.Part.from_text("Describe")],
        )
    ],
    generation_config=wire.GenerationConfig(
        temperature=0.5, thinking_config=wire.ThinkingConfig(thinking_budget=0)
    ),
)


def ok(body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=body)


# -- generateContent --------------------------------------------------------------------------


def test_generate_content_sends_the_wire_body_to_the_model_path() -> None:
    script = Script([ok(answer("a cat"))])
    response = make_client(script).generate_content("gemini-2.5-flash", REQUEST)
    (request,) = script.requests
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/v1beta/models/gemini-2.5-flash:generateContent"
    assert request.headers["x-goog-api-key"] == KEY
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("gemini-vision/")
    body = json.loads(request.content)
    assert body == REQUEST.to_wire()
    assert body["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}
    assert response.text == "a cat"
    assert response.retries_taken == 0
    assert response.usage_metadata is not None and response.usage_metadata.input_tokens == 10


def test_generate_content_leaves_the_model_field_out_of_the_body() -> None:
    script = Script([ok(answer())])
    request = REQUEST.model_copy(update={"model": "models/other"})
    make_client(script).generate_content("models/gemini-2.5-pro", request)
    assert script.requests[0].url.path == "/v1beta/models/gemini-2.5-pro:generateContent"
    assert "model" not in json.loads(script.requests[0].content)


def test_api_version_and_base_path_are_configurable() -> None:
    script = Script([ok(answer())])
    client = GeminiClient(
        KEY,
        base_url="http://127.0.0.1:9/prefix/",
        api_version="v1",
        transport=httpx.MockTransport(script),
    )
    client.generate_content("gemini-2.5-flash", REQUEST)
    assert str(script.requests[0].url) == (
        "http://127.0.0.1:9/prefix/v1/models/gemini-2.5-flash:generateContent"
    )


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("gemini-2.5-flash", "models/gemini-2.5-flash"),
        ("models/gemini-3-flash-preview", "models/gemini-3-flash-preview"),
        ("tunedModels/my-model-1", "tunedModels/my-model-1"),
        (" gemini-2.5-pro ", "models/gemini-2.5-pro"),
    ],
)
def test_model_path(model: str, path: str) -> None:
    assert model_path(model) == path


@pytest.mark.parametrize(
    "model", ["", "models/", "../files/x", "gemini 2.5", "m?key=1", "a/b", "gemini\nx"]
)
def test_bad_model_names_are_rejected(model: str) -> None:
    with pytest.raises(errors.ConfigurationError, match="model name"):
        model_path(model)


def test_non_json_success_body_is_an_invalid_response() -> None:
    script = Script([httpx.Response(200, text="<html>captive portal</html>")])
    with pytest.raises(errors.InvalidResponseError, match=r"not JSON.*captive portal"):
        make_client(script).generate_content("gemini-2.5-flash", REQUEST)


def test_wrong_shape_is_an_invalid_response_naming_the_field() -> None:
    script = Script([ok({"candidates": "not a list"})])
    with pytest.raises(errors.InvalidResponseError, match="candidates"):
        make_client(script).generate_content("gemini-2.5-flash", REQUEST)


def test_unknown_response_fields_are_ignored() -> None:
    script = Script([ok(answer("x", modelStatus={"new": True}, somethingNew=1))])
    assert make_client(script).generate_content("m", REQUEST).text == "x"


# -- countTokens and models -------------------------------------------------------------------


def test_count_tokens_with_contents() -> None:
    script = Script([ok({"totalTokens": 264, "promptTokensDetails": [{"modality": "IMAGE"}]})])
    request = wire.CountTokensRequest(contents=REQUEST.contents)
    counted = make_client(script).count_tokens("gemini-2.5-flash", request)
    assert counted.total_tokens == 264
    assert script.requests[0].url.path == "/v1beta/models/gemini-2.5-flash:countTokens"
    assert json.loads(script.requests[0].content) == request.to_wire()


def test_count_tokens_of_a_full_request_names_the_model_inside() -> None:
    script = Script([ok({"totalTokens": 270})])
    make_client(script).count_tokens("gemini-2.5-flash", REQUEST)
    body = json.loads(script.requests[0].content)
    assert list(body) == ["generateContentRequest"]
    assert body["generateContentRequest"]["model"] == "models/gemini-2.5-flash"
    assert body["generateContentRequest"]["contents"] == REQUEST.to_wire()["contents"]


def model(name: str) -> dict[str, Any]:
    return {"name": f"models/{name}", "supportedGenerationMethods": ["generateContent"]}


def test_list_models_pages_through_everything() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("pageToken") == "p2":
            return ok({"models": [model("c")]})
        return ok({"models": [model("a"), model("b")], "nextPageToken": "p2"})

    models = make_client(handler).list_models(page_size=2)
    assert [m.model_id for m in models] == ["a", "b", "c"]


def test_get_model() -> None:
    script = Script().on(
        "GET", "/v1beta/models/gemini-2.5-flash", ok({**model("gemini-2.5-flash"), "x": 1})
    )
    info = make_client(script).get_model("gemini-2.5-flash")
    assert info.supported_generation_methods == ["generateContent"]


# -- batches ----------------------------------------------------------------------------------


def operation(state: str, **metadata: Any) -> dict[str, Any]:
    return {"name": "batches/b1", "metadata": {"state": state, **metadata}}


def test_create_batch_with_inline_requests() -> None:
    script = Script([ok(operation("BATCH_STATE_PENDING", batchStats={"requestCount": "2"}))])
    client = make_client(script)
    batch = client.create_batch(
        "gemini-2.5-flash", [("img-1", REQUEST), ("img-2", REQUEST)], display_name="run 7"
    )
    assert batch.state == "PENDING"
    assert batch.metadata is not None and batch.metadata.batch_stats is not None
    assert batch.metadata.batch_stats.request_count == 2
    (request,) = script.requests
    assert request.url.path == "/v1beta/models/gemini-2.5-flash:batchGenerateContent"
    body = json.loads(request.content)["batch"]
    assert body["displayName"] == "run 7"
    inlined = body["inputConfig"]["requests"]["requests"]
    assert [item["metadata"] for item in inlined] == [{"key": "img-1"}, {"key": "img-2"}]
    assert inlined[0]["request"] == REQUEST.to_wire()


def test_create_batch_from_a_file() -> None:
    script = Script([ok(operation("BATCH_STATE_PENDING"))])
    make_client(script).create_batch("gemini-2.5-flash", file_name="abc123")
    body = json.loads(script.requests[0].content)
    assert body == {"batch": {"inputConfig": {"fileName": "files/abc123"}}}


@pytest.mark.parametrize(
    ("requests", "file_name"),
    [
        (None, None),
        ([("k", REQUEST)], "files/x"),
        ([], None),
        ([("k", REQUEST), ("k", REQUEST)], None),
    ],
)
def test_create_batch_rejects_bad_inputs_before_sending(
    requests: list[tuple[str, wire.GenerateContentRequest]] | None, file_name: str | None
) -> None:
    script = Script()
    with pytest.raises(errors.ConfigurationError):
        make_client(script).create_batch("gemini-2.5-flash", requests, file_name=file_name)
    assert script.requests == []


def test_create_batch_refuses_inline_batches_over_the_limit() -> None:
    big = wire.GenerateContentRequest(
        contents=[wire.Content(parts=[wire.Part.from_bytes(bytes(16_000_000), "image/png")])]
    )
    script = Script()
    with pytest.raises(errors.ConfigurationError, match="file_name"):
        make_client(script).create_batch("gemini-2.5-flash", [("only", big)])
    assert script.requests == []


@pytest.mark.parametrize(
    ("state", "name"),
    [
        ("BATCH_STATE_SUCCEEDED", "SUCCEEDED"),
        ("JOB_STATE_SUCCEEDED", "SUCCEEDED"),
        ("BATCH_STATE_RUNNING", "RUNNING"),
        ("JOB_STATE_CANCELLED", "CANCELLED"),
        ("BATCH_STATE_SOMETHING_NEW", "SOMETHING_NEW"),
    ],
)
def test_get_batch_accepts_both_state_vocabularies(state: str, name: str) -> None:
    script = Script().on("GET", "/v1beta/batches/b1", ok(operation(state)))
    assert make_client(script).get_batch("batches/b1").state == name


def test_get_batch_reads_inlined_results() -> None:
    output = {
        "inlinedResponses": {
            "inlinedResponses": [
                {"response": answer("one"), "metadata": {"key": "img-1"}},
                {"error": {"code": 400, "message": "bad"}, "metadata": {"key": "img-2"}},
            ]
        }
    }
    script = Script([ok(operation("BATCH_STATE_SUCCEEDED", output=output))])
    batch = make_client(script).get_batch("b1")
    assert batch.metadata is not None and batch.metadata.output is not None
    results = batch.metadata.output.inlined_responses
    assert results is not None
    first, second = results.inlined_responses
    assert first.response is not None and answer_text(first.response) == "one"
    assert second.error is not None and second.error.code == 400


def test_list_batches_pages_operations() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("pageToken") == "n":
            return ok({"operations": [operation("JOB_STATE_PENDING")]})
        return ok({"operations": [operation("BATCH_STATE_RUNNING")], "nextPageToken": "n"})

    batches = make_client(handler).list_batches(page_size=1)
    assert [b.state for b in batches] == ["RUNNING", "PENDING"]


def test_cancel_and_delete_batch() -> None:
    script = Script([ok({})])
    client = make_client(script)
    client.cancel_batch("b1")
    client.delete_batch("batches/b1")
    assert [(r.method, r.url.path) for r in script.requests] == [
        ("POST", "/v1beta/batches/b1:cancel"),
        ("DELETE", "/v1beta/batches/b1"),
    ]


# -- answer_text ------------------------------------------------------------------------------


def response(**body: Any) -> wire.GenerateContentResponse:
    return wire.GenerateContentResponse.model_validate(body)


def candidate(parts: list[dict[str, Any]], finish: str = "STOP") -> dict[str, Any]:
    return {"content": {"role": "model", "parts": parts}, "finishReason": finish}


def test_answer_text_returns_the_answer_without_thoughts() -> None:
    parts = [{"text": "**Thinking** about boxes", "thought": True}, {"text": "[1, 2]"}]
    assert answer_text(response(candidates=[candidate(parts)])) == "[1, 2]"


def test_answer_text_joins_text_parts() -> None:
    parts = [{"text": "[1, "}, {"text": "2]"}]
    assert answer_text(response(candidates=[candidate(parts)])) == "[1, 2]"


def test_blocked_prompt_raises_with_the_reason() -> None:
    blocked = response(promptFeedback={"blockReason": "SAFETY", "safetyRatings": []})
    with pytest.raises(errors.BlockedResponseError, match="SAFETY") as info:
        answer_text(blocked)
    assert info.value.block_reason == "SAFETY"


def test_unknown_block_reason_still_blocks() -> None:
    with pytest.raises(errors.BlockedResponseError) as info:
        answer_text(response(promptFeedback={"blockReason": "MODEL_ARMOR"}))
    assert info.value.block_reason == "MODEL_ARMOR"


@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION", "PROHIBITED_CONTENT", "IMAGE_SAFETY"])
def test_blocking_finish_reason_raises(reason: str) -> None:
    with pytest.raises(errors.BlockedResponseError) as info:
        answer_text(response(candidates=[candidate([{"text": "partial"}], reason)]))
    assert info.value.block_reason == reason
    assert info.value.raw_text == "partial"


def test_max_tokens_raises_truncated_with_the_partial_text() -> None:
    truncated = response(candidates=[candidate([{"text": '[{"box_2d": [1, 2'}], "MAX_TOKENS")])
    with pytest.raises(errors.TruncatedResponseError) as info:
        answer_text(truncated)
    assert info.value.raw_text == '[{"box_2d": [1, 2'


def test_max_tokens_spent_on_thinking_raises_truncated_with_empty_text() -> None:
    thoughts_only = [{"text": "thinking...", "thought": True}]
    with pytest.raises(errors.TruncatedResponseError) as info:
        answer_text(response(candidates=[candidate(thoughts_only, "MAX_TOKENS")]))
    assert info.value.raw_text == ""


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="empty"),
        pytest.param({"candidates": []}, id="no-candidates"),
        pytest.param({"candidates": [{"finishReason": "STOP"}]}, id="no-content"),
        pytest.param({"candidates": [candidate([{"text": "t", "thought": True}])]}, id="thoughts"),
        pytest.param({"candidates": [candidate([{"text": ""}], "OTHER")]}, id="empty-text"),
    ],
)
def test_no_usable_text_raises_invalid_response(body: dict[str, Any]) -> None:
    with pytest.raises(errors.InvalidResponseError):
        answer_text(response(**body))


def test_unknown_finish_reason_with_text_returns_the_text() -> None:
    assert answer_text(response(candidates=[candidate([{"text": "ok"}], "NEW_REASON")])) == "ok"


# -- construction -----------------------------------------------------------------------------


def test_client_without_a_key_explains_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(errors.ConfigurationError, match="GEMINI_API_KEY"):
        GeminiClient()
    with pytest.raises(errors.ConfigurationError, match="emulator"):
        AsyncGeminiClient(secrets={})


def test_client_takes_key_and_base_url_from_secrets() -> None:
    script = Script([ok(answer())])
    secrets = {"GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:1234"}
    client = GeminiClient(secrets=secrets, transport=httpx.MockTransport(script))
    client.generate_content("m", REQUEST)
    assert str(script.requests[0].url).startswith("http://127.0.0.1:1234/v1beta/")
    assert script.requests[0].headers["x-goog-api-key"] == KEY


def test_repr_hides_the_key() -> None:
    client = make_client(Script())
    assert KEY not in repr(client)
    assert "api_key='***'" in repr(client)
    assert KEY not in repr(vars(client))


def test_sync_client_closes_only_its_own_http_client() -> None:
    transport = httpx.MockTransport(Script([ok(answer())]))
    with GeminiClient(KEY, transport=transport) as client:
        client.generate_content("m", REQUEST)
    assert client._http.is_closed
    shared = httpx.Client(transport=transport)
    with GeminiClient(KEY, http_client=shared) as client:
        client.generate_content("m", REQUEST)
    assert not shared.is_closed


def test_async_client_does_everything_the_sync_one_does() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        routes = {
            "/v1beta/models/m:generateContent": answer("async"),
            "/v1beta/models/m:countTokens": {"totalTokens": 5},
            "/v1beta/models": {"models": [model("m")]},
            "/v1beta/batches/b1": operation("BATCH_STATE_RUNNING"),
        }
        return ok(routes[request.url.path])

    async def run() -> tuple[Any, ...]:
        async with make_async_client(handler) as client:
            return (
                answer_text(await client.generate_content("m", REQUEST)),
                (await client.count_tokens("m", REQUEST)).total_tokens,
                [m.model_id for m in await client.list_models()],
                (await client.get_batch("b1")).state,
            )

    assert asyncio.run(run()) == ("async", 5, ["m"], "RUNNING")
