"""THE LoRA scan, by concern (each module uses only the ones listed before it):

- ``lock``    — the one scan lock: take, refresh, release; a new ScanRun that holds it.
- ``items``   — what a scan found, as rows to write (a file's header, an A1111 entry).
- ``sources`` — where a scan reads: a folder (walked) or backends (listed over HTTP).
- ``merge``   — found items into the catalog (no HTTP: it is handed what was fetched).
- ``runs``    — start, run, schedule and summarise scans (the entry points).
"""
