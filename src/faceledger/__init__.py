"""faceledger: accountable face search."""

import os

# onnxruntime (1.29 and later) keeps usage telemetry: a database under ~/.cache/Microsoft and a session file
# in the temporary folder, and it may send it to Microsoft. A face-search system sends nothing anywhere, and
# its probes' traces stay in its data directory, so it is off before onnxruntime is first imported here (and
# in every worker process, which inherits the environment). An operator's explicit setting is kept.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
