"""Capture files to decoded packets: readers, the record walk, the decoder."""
