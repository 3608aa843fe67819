"""Protocols the core depends on, and the records that cross them.

The core never imports a concrete backend: plugins register backends (see the
``register_*`` hooks) and settings name the one to use.
"""

from __future__ import annotations

from cms.contracts.backends import (
    Backend,
    ImageHandlerBackend,
    SessionStoreBackend,
    StorageBackend,
)
from cms.contracts.change_stamps import ChangeStamps
from cms.contracts.errors import (
    DeleteRefused,
    DependencyUnavailable,
    ImageRejected,
    MediaInUse,
    PostNotFound,
    SchemaOutOfDate,
    SiteNotEmpty,
    UsernameTaken,
    VersionConflict,
)
from cms.contracts.excerpt import (
    excerpt_of,
    plain_text_of,
)
from cms.contracts.fields import PostField, Text
from cms.contracts.images import (
    ImageHandler,
    MediaStore,
)
from cms.contracts.importing import UNUSABLE_PASSWORD, ImportTarget, ImportWriter
from cms.contracts.records import (
    MAX_ID,
    MENUS,
    RECORD_KINDS,
    ROLES,
    AdminMenuItem,
    ApiToken,
    Cursor,
    ImageFormat,
    Kind,
    Media,
    MenuItem,
    MigrationReport,
    Post,
    PostLink,
    Redirect,
    Rendition,
    Role,
    Status,
    StoredImage,
    Tag,
    User,
)
from cms.contracts.search import (
    SearchHit,
    SearchQuery,
    SearchSyntaxError,
    SearchTerm,
    parse_search,
)
from cms.contracts.sessions import (
    SessionStore,
)
from cms.contracts.storage import (
    AttemptCounter,
    MediaLibrary,
    MenuStore,
    PostStore,
    PublicationQueue,
    RecordReader,
    RecordWriter,
    RedirectStore,
    SchemaStore,
    SearchIndex,
    Storage,
    TagStore,
    TokenStore,
    UserStore,
)

__all__ = [
    "MAX_ID",
    "MENUS",
    "RECORD_KINDS",
    "ROLES",
    "UNUSABLE_PASSWORD",
    "AdminMenuItem",
    "ApiToken",
    "AttemptCounter",
    "Backend",
    "ChangeStamps",
    "Cursor",
    "DeleteRefused",
    "DependencyUnavailable",
    "ImageFormat",
    "ImageHandler",
    "ImageHandlerBackend",
    "ImageRejected",
    "ImportTarget",
    "ImportWriter",
    "Kind",
    "Media",
    "MediaInUse",
    "MediaLibrary",
    "MediaStore",
    "MenuItem",
    "MenuStore",
    "MigrationReport",
    "Post",
    "PostField",
    "PostLink",
    "PostNotFound",
    "PostStore",
    "PublicationQueue",
    "RecordReader",
    "RecordWriter",
    "Redirect",
    "RedirectStore",
    "Rendition",
    "Role",
    "SchemaOutOfDate",
    "SchemaStore",
    "SearchHit",
    "SearchIndex",
    "SearchQuery",
    "SearchSyntaxError",
    "SearchTerm",
    "SessionStore",
    "SessionStoreBackend",
    "SiteNotEmpty",
    "Status",
    "Storage",
    "StorageBackend",
    "StoredImage",
    "Tag",
    "TagStore",
    "Text",
    "TokenStore",
    "User",
    "UserStore",
    "UsernameTaken",
    "VersionConflict",
    "excerpt_of",
    "parse_search",
    "plain_text_of",
]
