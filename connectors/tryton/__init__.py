"""The Tryton connector kind: JSON-RPC with a session (``rpc.py``), records and payloads
(``client.py``)."""
