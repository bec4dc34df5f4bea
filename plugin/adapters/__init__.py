"""The FiftyOne side: the only modules that import ``fiftyone``, ``pymongo`` or ``bson``."""
