"""The core's middlewares, one per module (as Starlette's): errors, CSRF with Origin,
permissions, canonical slashes, and the security headers every response gets."""

from cms.web.middlewares.csrf import UNSAFE_METHODS, csrf_middleware
from cms.web.middlewares.errors import RETRY_AFTER_SECONDS, error_middleware, is_api_request
from cms.web.middlewares.permissions import permission_middleware
from cms.web.middlewares.security_headers import security_headers
from cms.web.middlewares.slashes import canonical_slash_middleware

__all__ = [
    "RETRY_AFTER_SECONDS",
    "UNSAFE_METHODS",
    "canonical_slash_middleware",
    "csrf_middleware",
    "error_middleware",
    "is_api_request",
    "permission_middleware",
    "security_headers",
]
