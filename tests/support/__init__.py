"""Test support: loopback servers for end-to-end tests of es-s3-snapshot.

- relay.py        RelayProxy: threaded HTTP(S) reverse proxy (shared base)
- sigv4_proxy.py  SigV4VerifyingProxy: forwards only correctly SigV4-signed requests
- tls.py          throwaway CA/certificates and TLSTerminatingProxy
- proxies.py      Socks5Proxy / HttpProxy (pproxy subprocesses) with connection counts
- slow_proxy.py   SlowProxy: answers chosen requests late (the engine acts at once)
- counting_proxy.py CountingProxy: a relay that records each request's size, answer and times (bench)
- hostnames.py    AWS-looking host names that resolve to 127.0.0.1 in a CLI subprocess
- selfcheck.py    ``python -m tests.support.selfcheck`` proves all of the above

Modules are imported explicitly (``from tests.support.tls import ...``) so that
importing this package needs neither cryptography nor botocore.
"""
