"""reusegw's test harness: the one package every Python suite imports
(test/pytest.ini puts test/ on the import path; scripts outside pytest set
PYTHONPATH=test).

Real reusegw processes and real peers on loopback: net (addresses, ports,
ss views), procs (child processes and their logs), pki (gen.sh and TLS
contexts), config (the config builder), sip (SIP text), peers (Python SIP
connections and the legacy stand-in), gateway (Gateway, Pair, Single),
tools (sipp, s_client, stunnel), kamailio (Kamailio, the TLS peer),
legacy_kamailio (LegacyKamailio, a site's legacy proxy), sites (TwoSites), reuse (the two ends
of an RFC 5923 backward request) and fixtures (pytest fixtures, the
Stage). Every public name is also here: `import reusegw_test as h`.

Python standard library only; Debian's python3 + pytest run it."""
from .config import *  # noqa: F401,F403
from .gateway import *  # noqa: F401,F403
from .kamailio import *  # noqa: F401,F403
from .legacy_kamailio import *  # noqa: F401,F403
from .net import *  # noqa: F401,F403
from .peers import *  # noqa: F401,F403
from .pki import *  # noqa: F401,F403
from .procs import *  # noqa: F401,F403
from .reuse import *  # noqa: F401,F403
from .sites import *  # noqa: F401,F403
from .sip import *  # noqa: F401,F403
from .tools import *  # noqa: F401,F403
