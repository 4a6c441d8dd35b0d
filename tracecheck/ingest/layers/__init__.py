"""One module per protocol layer of the bulk decoder."""
