"""Packets to the flow table: the builder, the table, the pipeline that runs the stages."""
