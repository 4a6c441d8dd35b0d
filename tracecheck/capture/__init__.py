"""`tracecheck capture`: record a test call to a pcapng file that carries its own context."""
