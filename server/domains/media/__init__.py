"""Media: photos, signature images and sheet snapshots as blobs."""
