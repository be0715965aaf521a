"""(Routes of this module are added by the issue that owns them.)"""

ROUTES: list = []
OPENAPI_PATHS: dict = {}
