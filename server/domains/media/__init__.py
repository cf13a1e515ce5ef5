"""Media: photos, signature images and sheet snapshots as blobs: tus uploads, reads, thumbnails, collection."""
