"""Prometheus metrics: the instruments of one process (`instruments`), and their exposition,
also across the worker processes of `iam serve --workers N` (`exposition`).

It imports nothing of the service (only `prometheus_client`), so every package can be
handed the part it counts with: the token cache its hits and misses, the audit trail its
queue, the attempts the tokens issued and refused, the app the requests. Each is handed
children bound to their labels once, so that counting costs no label look-up per request.
"""
