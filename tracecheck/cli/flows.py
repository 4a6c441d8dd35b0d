"""`tracecheck flows`: the flow table of one or more captures."""
