"""What we send for one work item: prepared images, the request, its cache key, its parts.

Shared by the online engine (:mod:`gemini_vision.engine.pipeline`) and Batch mode
(:mod:`gemini_vision.engine.batch`):

- images are prepared in a thread pool, never on the event loop (decoding and resizing take
  milliseconds to seconds);
- the request is first built with every image inline; its content address (see
  :func:`~.cache.request_cache_key`) is computed from that form, so the key depends on the
  pixels, prompt, model and settings only - not on whether the image later travels inline or
  as an uploaded file, nor on the file's name;
- images that would push the request over ``inline_limit_bytes`` are uploaded with the Files
  API, or referred to by an earlier upload of the same bytes while it is usable (see
  :mod:`.uploads`); Vertex AI has no Files API, so there such an image fails its sample;
- on Vertex AI, ``gs://`` media is sent by reference after a look at its header (see
  :mod:`gemini_vision.images.cloud`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from gemini_vision import images as images_mod
from gemini_vision import tasks as tasks_mod
from gemini_vision.api import AsyncGeminiClient, fits_inline, wire
from gemini_vision.api.storage import CloudStorage
from gemini_vision.engine.cache import request_cache_key
from gemini_vision.engine.prepared import PreparedImages
from gemini_vision.engine.uploads import UploadRecord, UploadRegistry, upload_namespace
from gemini_vision.errors import ImageError
from gemini_vision.images.cloud import is_cloud_uri, prepare_cloud_image
from gemini_vision.settings import RunSettings

R = TypeVar("R")

__all__ = ["ImageInfo", "PreparedRequest", "RequestBuilder"]

logger = logging.getLogger(__name__)

#: bytes of JSON around the images: prompt, schema, settings (generous)
_REQUEST_OVERHEAD = 16 * 1024


@dataclass(frozen=True)
class ImageInfo:
    """What we sent for an item: sizes in pixels (width, height) and the bytes' digest."""

    display_size: tuple[int, int]
    sent_size: tuple[int, int]
    sha256: str
    mime_type: str


@dataclass(frozen=True)
class PreparedRequest:
    """One item ready to ask: its key, images, inline request and content address."""

    key: str
    images: tuple[images_mod.PreparedImage, ...]
    request: wire.GenerateContentRequest
    cache_key: str
    #: estimated prompt tokens of the images (for TPM pacing)
    tokens: int

    @property
    def info(self) -> ImageInfo:
        first = self.images[0]
        return ImageInfo(
            display_size=first.display_size,
            sent_size=first.sent_size,
            sha256=first.sha256,
            mime_type=first.mime_type,
        )

    @property
    def inline_bytes(self) -> int:
        return sum(len(image.data) for image in self.images)


class RequestBuilder:
    """Prepares images off the event loop and builds requests for one task and model."""

    def __init__(
        self,
        task: tasks_mod.TaskSpec,
        *,
        model: str,
        client: AsyncGeminiClient,
        max_image_side: int | None,
        request_options: Mapping[str, Any],
        inline_limit_bytes: int,
        uploads: UploadRegistry | None = None,
        prepare_workers: int = 2,
        storage: CloudStorage | None = None,
        prepared: PreparedImages | None = None,
    ) -> None:
        self.task = task
        self.model = model
        self.client = client
        self.max_image_side = max_image_side
        self.request_options = dict(request_options)
        self.inline_limit_bytes = inline_limit_bytes
        self.uploads = uploads
        #: reads the headers of gs:// media (Vertex AI only)
        self.storage = storage
        #: images prepared by earlier runs over the same files (a comparison's variants)
        self.image_memo = prepared
        self.namespace = upload_namespace(client.config.base_url, client.config.identity())
        self.uploaded = 0
        self.reused_uploads = 0
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, prepare_workers), thread_name_prefix="gemini-prepare"
        )
        self._upload_locks: dict[str, asyncio.Lock] = {}

    @classmethod
    def from_settings(
        cls,
        task: tasks_mod.TaskSpec,
        settings: RunSettings,
        client: AsyncGeminiClient,
        *,
        uploads: UploadRegistry | None = None,
        prepare_workers: int | None = None,
    ) -> RequestBuilder:
        """The builder of a run with ``settings`` (model, image size, request options, the
        inline limit and its thread pool's size)."""
        storage = None
        if client.config.vertex is not None:
            storage = CloudStorage(client.config.tokens, secrets=settings.secrets)
        return cls(
            task,
            model=settings.model,
            client=client,
            max_image_side=settings.max_image_side,
            request_options=settings.request_options,
            inline_limit_bytes=settings.tuning.inline_limit_bytes,
            uploads=uploads,
            prepare_workers=prepare_workers or settings.tuning.prepare_workers,
            storage=storage,
            prepared=settings.prepared_images,
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.storage is not None:
            self.storage.close()

    async def run_in_pool(self, function: Callable[..., R], *args: Any) -> R:
        """``function(*args)`` in the builder's thread pool, off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, function, *args)

    def prepare(self, source: str | bytes) -> images_mod.PreparedImage:
        """The image of ``source`` as it will be sent (see :func:`~.images.prepare_image`);
        blocking, so called in the builder's pool."""
        if isinstance(source, str) and is_cloud_uri(source):
            return self._cloud_image(source)

        def prepare() -> images_mod.PreparedImage:
            return images_mod.prepare_image(source, max_side=self.max_image_side)

        memo = self.image_memo
        if memo is not None and isinstance(source, str):
            return memo.get_or_prepare(source, self.max_image_side, prepare)
        return prepare()

    def _cloud_image(self, uri: str) -> images_mod.PreparedImage:
        if self.storage is None:
            raise ImageError(
                "gs:// media can be read by Vertex AI only (set GOOGLE_GENAI_USE_VERTEXAI=true "
                "with a project and credentials); the Gemini Developer API cannot read Cloud "
                "Storage",
                source=uri,
            )
        found = self.storage.head(uri)
        return prepare_cloud_image(uri, found.head, generation=found.generation)

    def build(self, key: str, images: Sequence[images_mod.PreparedImage]) -> PreparedRequest:
        """The inline request for ``images`` and its cache key."""
        parts = [image.to_part() for image in images]
        request = tasks_mod.build_request(
            self.task, parts, model=self.model, **self.request_options
        )
        cache_key = request_cache_key(self.model, request)
        if any(image.uri for image in images):  # an object rewritten in place is a new image
            versions = ",".join(image.sha256 for image in images)
            cache_key = hashlib.sha256(f"{cache_key}|{versions}".encode()).hexdigest()
        return PreparedRequest(
            key=key,
            images=tuple(images),
            request=request,
            cache_key=cache_key,
            tokens=sum(image.estimated_tokens(self.model) for image in images),
        )

    async def prepared(self, key: str, sources: Sequence[str | bytes]) -> PreparedRequest:
        """The request for ``sources``, its images prepared and the request built in one trip
        to the builder's pool (each trip off the event loop and back costs ~50 us of CPU)."""

        def prepare_and_build() -> PreparedRequest:
            return self.build(key, [self.prepare(source) for source in sources])

        return await self.run_in_pool(prepare_and_build)

    def fits_inline(self, prepared: PreparedRequest) -> bool:
        return fits_inline(prepared.inline_bytes, _REQUEST_OVERHEAD, self.inline_limit_bytes)

    async def sendable(
        self, prepared: PreparedRequest, *, refresh: bool = False
    ) -> wire.GenerateContentRequest:
        """The request to send: inline when it fits, else with its images uploaded (or an
        earlier upload of the same bytes; ``refresh`` uploads again regardless)."""
        if self.fits_inline(prepared):
            return prepared.request
        if self.client.config.vertex is not None:
            raise ImageError(
                f"{prepared.inline_bytes / 1e6:.1f} MB of images is more than a request may "
                f"carry inline ({self.inline_limit_bytes / 1e6:.0f} MB), and Vertex AI has no "
                "Files API to upload them: lower max_image_side, or keep the media in Cloud "
                "Storage (gs://) to have it read from there",
                source=prepared.images[0].source,
            )
        parts = [await self.file_part(image, refresh=refresh) for image in prepared.images]
        return tasks_mod.build_request(self.task, parts, model=self.model, **self.request_options)

    async def file_part(
        self, image: images_mod.PreparedImage, *, refresh: bool = False
    ) -> wire.Part:
        """A file part for ``image``: a usable earlier upload, or a new one (recorded)."""
        lock = self._upload_locks.setdefault(image.sha256, asyncio.Lock())
        async with lock:  # concurrent items with the same bytes upload once
            record = None
            if self.uploads is not None:
                record = await asyncio.to_thread(self.uploads.get, self.namespace, image.sha256)
            if record is not None and not refresh and record.usable():
                self.reused_uploads += 1
                return record.part()
            file = await self.client.upload_file(
                image.data, mime_type=image.mime_type, display_name=f"img-{image.sha256[:16]}"
            )
            file = await self.client.wait_until_active(file)
            self.uploaded += 1
            record = UploadRecord.from_file(self.namespace, image.sha256, file)
            if self.uploads is not None:
                await asyncio.to_thread(self.uploads.put, record)
            return record.part()

    async def forget_uploads(self, prepared: PreparedRequest) -> None:
        """Drops the upload records of ``prepared`` (the server no longer has the files)."""
        if self.uploads is None:
            return
        for image in prepared.images:
            await asyncio.to_thread(self.uploads.forget, self.namespace, image.sha256)
