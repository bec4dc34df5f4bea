"""Which Gemini a client talks to: the Developer API (an API key) or Vertex AI (Google Cloud).

Vertex AI is chosen the way the official ``google-genai`` SDK chooses it, by
``GOOGLE_GENAI_USE_VERTEXAI=true`` (or ``vertexai=True`` in Python), and configured by the same
names: ``GOOGLE_CLOUD_PROJECT``, ``GOOGLE_CLOUD_LOCATION`` (default ``global``),
``GOOGLE_APPLICATION_CREDENTIALS`` and ``GOOGLE_VERTEX_BASE_URL``. Each may also be a FiftyOne
secret or an argument; arguments win over secrets, secrets over the environment.

On Vertex AI a run authenticates in one of three ways, in this order:

1. Google Cloud credentials given in Python (any ``google.auth`` credentials object);
2. with a project: Application Default Credentials - the service-account file named by
   ``GOOGLE_APPLICATION_CREDENTIALS``, else the user's ``gcloud auth application-default
   login``, else the metadata server of a Google Cloud machine;
3. without a project: an express-mode API key (``api_key=`` or ``GOOGLE_API_KEY``, the name
   Google's "Vertex AI in express mode" guide uses; ``GEMINI_API_KEY`` is the Developer API's
   and is not sent to Vertex AI).

Requests go to ``{host}/v1/projects/{project}/locations/{location}/publishers/google/models/
{model}:generateContent`` (express mode: ``{host}/v1/publishers/google/models/...``), where the
host is ``https://{location}-aiplatform.googleapis.com``, or ``https://aiplatform.googleapis.com``
for the ``global`` location and express mode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gemini_vision.api.config import (
    USE_VERTEX_NAME,
    SecretSource,
    lookup,
    resolve_api_key,
    resolve_base_url,
    uses_vertex,
)
from gemini_vision.api.credentials import CREDENTIALS_NAME, AccessTokens, load_credentials
from gemini_vision.errors import ConfigurationError

__all__ = [
    "CREDENTIALS_NAME",
    "DEFAULT_LOCATION",
    "EXPRESS_KEY_NAMES",
    "LOCATION_NAME",
    "PROJECT_NAME",
    "USE_VERTEX_NAME",
    "VERTEX_API_VERSION",
    "VERTEX_BASE_URL_NAME",
    "VertexTarget",
    "resolve_vertex",
    "uses_vertex",
    "vertex_host",
]

PROJECT_NAME = "GOOGLE_CLOUD_PROJECT"
LOCATION_NAME = "GOOGLE_CLOUD_LOCATION"
VERTEX_BASE_URL_NAME = "GOOGLE_VERTEX_BASE_URL"
#: the names an express-mode key is read from (not GEMINI_API_KEY: that one is the Developer API's)
EXPRESS_KEY_NAMES = ("GOOGLE_API_KEY",)
DEFAULT_LOCATION = "global"
#: Vertex AI's stable REST version (the SDK defaults to v1beta1; both serve generateContent)
VERTEX_API_VERSION = "v1"

#: a project ID (``my-project-123``, ``example.com:my-project``) or a project number
_PROJECT = re.compile(r"^(?:[a-z0-9.\-]+:)?[a-z][a-z0-9\-]{4,28}[a-z0-9]$|^\d{6,20}$")
_LOCATION = re.compile(r"^[a-z]+(?:-[a-z]+\d*)*$")
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-@]*$")


MISSING_PROJECT_HELP = (
    "Vertex AI needs a Google Cloud project: set GOOGLE_CLOUD_PROJECT (environment or "
    "FiftyOne secret) or pass project=..., with credentials from "
    "GOOGLE_APPLICATION_CREDENTIALS (a service-account file) or `gcloud auth "
    "application-default login`; or, for Vertex AI express mode, set GOOGLE_API_KEY "
    "to an express-mode key. Unset GOOGLE_GENAI_USE_VERTEXAI to use the Gemini "
    "Developer API instead."
)


def vertex_host(location: str | None) -> str:
    """The public Vertex AI host of ``location`` (``global`` and express mode: no region)."""
    if not location or location == DEFAULT_LOCATION:
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


@dataclass(frozen=True)
class VertexTarget:
    """Where Vertex AI requests go: the host, and the project and location (None in express
    mode, where an API key names the project)."""

    base_url: str
    project: str | None
    location: str | None
    api_version: str = VERTEX_API_VERSION

    @property
    def express(self) -> bool:
        return self.project is None

    def model_resource(self, model: str) -> str:
        """``projects/{p}/locations/{l}/publishers/google/models/{id}`` (express mode: from
        ``publishers/``); ``model`` may be ``gemini-2.5-flash`` or ``models/gemini-2.5-flash``."""
        model_id = model.strip().rsplit("/", 1)[-1]
        if not _MODEL_ID.fullmatch(model_id):
            raise ConfigurationError(
                f"Invalid model name {model!r}: expected e.g. 'gemini-2.5-flash'"
            )
        scope = "" if self.express else f"projects/{self.project}/locations/{self.location}/"
        return f"{scope}publishers/google/models/{model_id}"

    def describe(self) -> str:
        """For forms and messages: ``Vertex AI (project p, location l)``."""
        if self.express:
            return "Vertex AI in express mode (API key)"
        return f"Vertex AI (project {self.project}, location {self.location})"


def resolve_vertex(
    *,
    secrets: SecretSource | None = None,
    base_url: str | None = None,
    project: str | None = None,
    location: str | None = None,
    api_key: str | None = None,
    credentials: Any = None,
) -> tuple[VertexTarget, str | None, AccessTokens | None]:
    """The Vertex AI target, and either the express-mode key or the credentials' tokens.

    Credentials are loaded (Application Default Credentials) unless given or an express-mode
    key is used; without a configured project, the one the credentials name (a
    service-account file's ``project_id``) is used. Raises ConfigurationError saying exactly
    what is missing.
    """
    project = (project or "").strip() or lookup((PROJECT_NAME,), secrets)
    location = (location or "").strip() or lookup((LOCATION_NAME,), secrets)
    key = None
    if credentials is None and project is None:
        key = resolve_api_key(api_key, secrets, names=EXPRESS_KEY_NAMES)
    if key is None and credentials is None:
        credentials, found_project = load_credentials(secrets)
        project = project or found_project
    if key is None and project is None:
        raise ConfigurationError(MISSING_PROJECT_HELP)
    if project is not None and not _PROJECT.fullmatch(project):
        raise ConfigurationError(
            f"Invalid Google Cloud project {project!r} in GOOGLE_CLOUD_PROJECT: expected a "
            "project ID such as 'my-project-123'"
        )
    if key is None:
        location = location or DEFAULT_LOCATION
        if not _LOCATION.fullmatch(location):
            raise ConfigurationError(
                f"Invalid GOOGLE_CLOUD_LOCATION {location!r}: expected a region such as "
                "'us-central1' or 'europe-west4', or 'global'"
            )
    else:
        location = None
    explicit = (base_url or "").strip() or lookup((VERTEX_BASE_URL_NAME,), secrets)
    root = resolve_base_url(explicit or vertex_host(location), {}, setting=VERTEX_BASE_URL_NAME)
    tokens = AccessTokens(credentials) if key is None else None
    return VertexTarget(root, project, location), key, tokens
