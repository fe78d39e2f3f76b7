"""A python-threatexchange extension for Hashfed hubs (an optional extra: ``pip install
'hashfed-client[threatexchange]'``).

Load it with ``threatexchange config extensions add hashfed_client.tx``; ``docs/interop.md``
gives the steps for the CLI and for Hasher-Matcher-Actioner. The base client never imports
this package.
"""

from threatexchange.extensions.manifest import ThreatExchangeExtensionManifest

from hashfed_client.tx.exchange import (
    HashfedCheckpoint,
    HashfedCollabConfig,
    HashfedCredentials,
    HashfedOpinion,
    HashfedSignalExchangeAPI,
    HashfedSignalMetadata,
)
from hashfed_client.tx.signals import (
    HUB_TO_TX,
    SIGNAL_TYPES,
    HashfedFileMD5Signal,
    HashfedFileSHA256Signal,
    HashfedURLSignal,
)

TX_MANIFEST = ThreatExchangeExtensionManifest(
    signal_types=SIGNAL_TYPES,
    apis=(HashfedSignalExchangeAPI,),
)

__all__ = [
    "HUB_TO_TX",
    "TX_MANIFEST",
    "HashfedCheckpoint",
    "HashfedCollabConfig",
    "HashfedCredentials",
    "HashfedFileMD5Signal",
    "HashfedFileSHA256Signal",
    "HashfedOpinion",
    "HashfedSignalExchangeAPI",
    "HashfedSignalMetadata",
    "HashfedURLSignal",
]
