"""Photos, signatures and the upload queue of a technician's client.

`uploads` (the queue and its tus sender, over the client's session), `photos`
(shrink and add) and `signing` (the sheet, strokes, sign). The client calls
them through its public methods only.
"""

from .photos import JPEG_QUALITY, MAX_EDGE, Photo, add_photo, image_format, shrink_photo
from .signing import (
    MAX_CANVAS,
    mismatched_signatures,
    render_strokes,
    sheet_checks,
    show_sheet,
    show_visit_sheet,
    sign,
    sign_visit,
)
from .uploads import DEFAULT_CHUNK, Upload, UploadQueue, send, upload_waiting

__all__ = [
    "DEFAULT_CHUNK",
    "JPEG_QUALITY",
    "MAX_CANVAS",
    "MAX_EDGE",
    "Photo",
    "Upload",
    "UploadQueue",
    "add_photo",
    "image_format",
    "mismatched_signatures",
    "render_strokes",
    "send",
    "sheet_checks",
    "show_sheet",
    "show_visit_sheet",
    "shrink_photo",
    "sign",
    "sign_visit",
    "upload_waiting",
]
