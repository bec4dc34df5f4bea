"""Prepared images kept for the runs that follow, so that several runs over the same images
(the variants of one comparison) decode and resize each image once.

:class:`PreparedImages` keeps what :func:`~gemini_vision.images.prepare_image` made, by the
file (path, size, modification time) and the image side it was prepared for, up to
``max_bytes`` of image data (least recently used first out). Sources given as bytes are not
kept (nothing names them cheaply).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable

from gemini_vision.images import PreparedImage

__all__ = ["PreparedImages"]

_Key = tuple[str, int, int, int | None]


class PreparedImages:
    """A bounded, thread-safe memo of prepared images (see the module)."""

    def __init__(self, max_bytes: int = 512 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[_Key, PreparedImage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        #: images served from the memo, and prepared afresh
        self.hits = 0
        self.misses = 0

    def get_or_prepare(
        self, path: str, max_side: int | None, prepare: Callable[[], PreparedImage]
    ) -> PreparedImage:
        """The image of ``path`` prepared for ``max_side``: kept, or ``prepare()``-d now."""
        try:
            stat = os.stat(path)
        except OSError:
            return prepare()  # prepare() says what is wrong with the file
        key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns, max_side)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return found
        image = prepare()
        with self._lock:
            self.misses += 1
            if key not in self._items and len(image.data) <= self.max_bytes:
                self._items[key] = image
                self._bytes += len(image.data)
                while self._bytes > self.max_bytes:
                    _, dropped = self._items.popitem(last=False)
                    self._bytes -= len(dropped.data)
        return image
