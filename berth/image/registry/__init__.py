"""Distribution API v2: client.py (requests, blobs, uploads), auth.py, transport.py (urllib3), manifest.py."""
