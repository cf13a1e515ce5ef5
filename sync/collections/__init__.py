"""The collections of protocol v1, one module per family; `sync.schema` gathers them."""
